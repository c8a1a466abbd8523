import type { Command } from 'commander';
import { CLI_OPERATOR } from '../audit/audit.service.js';
import { API_CLIENT_SCOPE_NAMES } from '../auth/scopes.js';
import type { Config } from '../config.js';
import { withContext } from './context.js';

/** `custos token …`: API clients' tokens, through the service the admin API calls. */
export function registerTokenCommands(program: Command, config: () => Config, say: (line: string) => void) {
  const token = program
    .command('token')
    .description('Manage API tokens for HTTP Basic (email:token) clients');

  token
    .command('create')
    .description(
      'Create a token (and the API client if needed), granting scopes; prints the token alone on the last line',
    )
    .requiredOption('--email <email>', 'the API client email used as the Basic username')
    .requiredOption('--scope <scope...>', `scope(s) to grant: ${API_CLIENT_SCOPE_NAMES.join(', ')}`)
    .option('--label <label>', 'a note to recognise the token by')
    .action(async (opts: { email: string; scope: string[]; label?: string }) => {
      const created = await withContext(config(), (ctx) =>
        ctx.apiClients.createToken(
          { email: opts.email, scopes: opts.scope, label: opts.label },
          CLI_OPERATOR,
        ),
      );
      say(
        `${created.createdClient ? 'Created API client' : 'API client'} ${created.clientId} (${created.scopes.join(', ')}); token id ${created.tokenId}`,
      );
      say('Store this token now: it is shown only once.');
      say(created.token);
    });

  token
    .command('list')
    .description("List tokens with their client's scopes (never their secrets)")
    .action(async () => {
      const rows = await withContext(config(), (ctx) => ctx.apiClients.listTokens());
      if (rows.length === 0) say('No tokens');
      for (const r of rows) {
        const state = r.revokedAt ? `revoked ${r.revokedAt}` : 'active';
        const scopes = r.scopes.length > 0 ? r.scopes.join(',') : 'no scopes';
        say(
          `${r.id}  ${r.email}  ${scopes}  ${state}  created ${r.createdAt}  last used ${r.lastUsedAt ?? 'never'}${r.label ? `  ${r.label}` : ''}`,
        );
      }
    });

  token
    .command('revoke')
    .description('Revoke a token by id; it stops working at once')
    .argument('<tokenId>')
    .action(async (tokenId: string) => {
      await withContext(config(), (ctx) => ctx.apiClients.revokeToken(tokenId, CLI_OPERATOR));
      say(`Revoked ${tokenId}`);
    });
}
