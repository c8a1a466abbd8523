import type { Command } from 'commander';
import { CLI_OPERATOR } from '../audit/audit.service.js';
import { OPERATOR_ROLES } from '../auth/permissions.js';
import type { Config } from '../config.js';
import { withContext } from './context.js';

/** `custos operator …`: console roles, through the service the admin API calls. */
export function registerOperatorCommands(
  program: Command,
  config: () => Config,
  say: (line: string) => void,
) {
  const operator = program
    .command('operator')
    .description(`Grant, revoke and list console roles (${OPERATOR_ROLES.join(', ')})`);

  operator
    .command('grant')
    .description('Grant a console role to an open account')
    .argument('<accountId>')
    .requiredOption('--role <role>', OPERATOR_ROLES.join(' | '))
    .action(async (accountId: string, opts: { role: string }) => {
      const changed = await withContext(config(), (ctx) =>
        ctx.operators.grant(accountId, opts.role, CLI_OPERATOR),
      );
      say(changed ? `Granted ${opts.role} to ${accountId}` : `${accountId} already holds ${opts.role}`);
    });

  operator
    .command('revoke')
    .description('Revoke a console role; it stops working at the next request')
    .argument('<accountId>')
    .requiredOption('--role <role>', OPERATOR_ROLES.join(' | '))
    .action(async (accountId: string, opts: { role: string }) => {
      const changed = await withContext(config(), (ctx) =>
        ctx.operators.revoke(accountId, opts.role, CLI_OPERATOR),
      );
      say(changed ? `Revoked ${opts.role} from ${accountId}` : `${accountId} does not hold ${opts.role}`);
    });

  operator
    .command('list')
    .description('List who holds which console role')
    .action(async () => {
      const grants = await withContext(config(), (ctx) => ctx.operators.list());
      if (grants.length === 0) say('No console roles granted');
      for (const g of grants) say(`${g.accountId}  ${g.role}  granted ${g.grantedAt} by ${g.grantedBy}`);
    });
}
