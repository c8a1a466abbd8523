import type { Command } from 'commander';
import { CLI_OPERATOR } from '../audit/audit.service.js';
import { type Config, configuredBaseUrl } from '../config.js';
import { withContext } from './context.js';

/** `custos login-link`: a one-time sign-in link, through the service POST /admin/login-links calls. */
export function registerSignInCommands(program: Command, config: () => Config, say: (line: string) => void) {
  program
    .command('login-link')
    .description(
      'Issue a one-time sign-in link for an account (valid once, for 15 minutes); prints the link alone on the last line',
    )
    .argument('<accountId>')
    .option('--next <path>', 'where to land after signing in, a path on this site (e.g. /console)')
    .action(async (accountId: string, opts: { next?: string }) => {
      const cfg = config();
      const issued = await withContext(cfg, (ctx) =>
        ctx.loginLinks.issue(accountId, opts.next, CLI_OPERATOR),
      );
      say(`Sign-in link for ${accountId}, valid once until ${issued.expiresAt}, then to ${issued.next}:`);
      say(`${configuredBaseUrl(cfg)}${issued.path}`);
    });
}
