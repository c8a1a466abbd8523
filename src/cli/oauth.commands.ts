import type { Command } from 'commander';
import { CLI_OPERATOR } from '../audit/audit.service.js';
import type { Config } from '../config.js';
import { withContext } from './context.js';

/** `custos oauth …`: the authorization server of user grants (docs/app-grants.md). */
export function registerOAuthCommands(program: Command, config: () => Config, say: (line: string) => void) {
  const oauth = program.command('oauth').description("The authorization server of people's grants to apps");

  oauth
    .command('rotate-key')
    .description(
      'Make a new signing key (used from the next start of the server); the previous one stays published, older ones are retired',
    )
    .action(async () => {
      const { kid, retired } = await withContext(config(), (ctx) =>
        ctx.grants.rotateSigningKey(CLI_OPERATOR),
      );
      say(`New signing key ${kid}; restart the server to sign with it`);
      if (retired.length > 0) say(`Retired: ${retired.join(', ')}`);
    });
}
