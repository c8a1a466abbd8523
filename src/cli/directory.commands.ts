import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CLI_OPERATOR } from '../audit/audit.service.js';
import type { Config } from '../config.js';
import { AppError } from '../errors/app-error.js';
import { withContext } from './context.js';
import { withProgress } from './progress.js';

/**
 * `custos import`, `account close`, `app show`, `app rotate-webhook-secret` and `uninstall`:
 * the directory's operator actions, through the services the admin API calls.
 */
export function registerDirectoryCommands(
  program: Command,
  config: () => Config,
  say: (line: string) => void,
) {
  program
    .command('import')
    .description(
      'Load organizations, accounts, sites, apps and installations from a JSON file (checked whole, then written in short transactions; idempotent: run it again to complete an interrupted import)',
    )
    .argument('<file>', 'the directory file (format: docs/app-developers.md)')
    .action(async (file: string) => {
      let data: unknown;
      try {
        data = JSON.parse(readFileSync(file, 'utf8'));
      } catch (error) {
        throw new AppError('VALIDATION_FAILED', `${file}: not readable JSON (${(error as Error).message})`);
      }
      const summary = await withContext(config(), (ctx) =>
        withProgress('import', 'records', (onProgress) =>
          ctx.importer.importDirectory(data, CLI_OPERATOR, { onProgress }),
        ),
      );
      for (const [kind, c] of Object.entries(summary)) {
        say(`${kind}: ${c.created} created, ${c.updated} updated, ${c.unchanged} unchanged`);
      }
      // A count only: which accounts, and what their people chose, stays out of the output.
      const kept = summary.accounts.ownVisibilityKept;
      say(
        `visibility: the person's own choices kept over the file's on ${kept} ${kept === 1 ? 'account' : 'accounts'}`,
      );
    });

  program
    .command('account')
    .description('Manage accounts')
    .command('close')
    .description('Close an account: erase its profile PD, keep its accountId and the closure record')
    .argument('<accountId>')
    .action(async (accountId: string) => {
      const closed = await withContext(config(), (ctx) =>
        ctx.directory.closeAccount(accountId, CLI_OPERATOR),
      );
      say(
        closed.alreadyClosed
          ? `${accountId} was already closed on ${closed.closedAt}`
          : `Closed ${accountId}`,
      );
    });

  const app = program.command('app').description('Manage apps');

  app
    .command('show')
    .description("Show an app's settings; a webhook secret Custos generated is shown once, the first time")
    .argument('<key>')
    .action(async (key: string) => {
      const details = await withContext(config(), (ctx) => ctx.directory.showApp(key, CLI_OPERATOR));
      say(`${details.key}  ${details.name}  (${details.vendor})`);
      say(`  privacy policy: ${details.privacyPolicyUrl ?? '-'}`);
      say(`  terms: ${details.termsUrl ?? '-'}`);
      say(`  stores personal data: ${details.storesPersonalData ? 'yes' : 'no'}`);
      say(`  Email API approved: ${details.emailApiApproved ? 'yes' : 'no'}`);
      for (const i of details.installations) {
        const state = i.uninstalledAt ? `uninstalled ${i.uninstalledAt}` : `scopes ${i.scopes.join(' ')}`;
        say(`  installation ${i.clientKey} on ${i.siteId}: ${state}`);
      }
      say(`  webhook: ${details.webhookUrl ?? '-'}`);
      if (details.webhookSecret) {
        say('  webhook signing secret (store it now: it is shown only once):');
        say(details.webhookSecret);
      } else if (details.webhookUrl) {
        say(`  webhook signing secret: already shown or operator-supplied (${details.webhookSecretShownAt})`);
      }
    });

  app
    .command('rotate-webhook-secret')
    .description(
      'Give an app a new webhook signing secret (printed once); the previous one also signs for CUSTOS_WEBHOOK_SECRET_GRACE_HOURS',
    )
    .argument('<key>')
    .action(async (key: string) => {
      const rotated = await withContext(config(), (ctx) => ctx.appWebhooks.rotateSecret(key, CLI_OPERATOR));
      say(`New webhook signing secret for ${key} (store it now: it is shown only once).`);
      say(`The previous secret also signs until ${rotated.previousValidUntil}.`);
      say(rotated.secret);
    });

  program
    .command('uninstall')
    .description(
      'Uninstall an app from a site by the installation clientKey; its credentials stop working at once',
    )
    .argument('<clientKey>')
    .action(async (clientKey: string) => {
      await withContext(config(), (ctx) => ctx.directory.uninstall(clientKey, CLI_OPERATOR));
      say(`Uninstalled ${clientKey}`);
    });
}
