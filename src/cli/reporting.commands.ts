import type { Command } from 'commander';
import { AuditLog } from '../audit/audit.service.js';
import type { Config } from '../config.js';
import { loadMasterKey } from '../crypto/master-key.js';
import { SecretBox } from '../crypto/secret-box.js';
import { rotateWebhookSecret } from '../directory/webhook-secret.js';
import { ComplianceService } from '../reporting/compliance.service.js';
import { withDatabase } from './database.js';
import { OPERATOR } from './directory.js';

/**
 * `custos compliance` (the holdings register and the GDPR art. 19 evidence,
 * docs/legal-rules.md#art-19-telling-every-recipient)
 * and `custos app rotate-webhook-secret`. Registered after the `app` command exists.
 */
export function registerReportingCommands(
  program: Command,
  config: () => Config,
  say: (line: string) => void,
) {
  program
    .command('compliance')
    .description(
      "Per-app reporting compliance (held, overdue, never reported); with --account, the apps that hold that account's data and who was told of its closure, when",
    )
    .option('--account <accountId>', 'show the evidence for one account instead')
    .option('--json', 'print JSON')
    .action(async (opts: { account?: string; json?: boolean }) => {
      const cfg = config();
      await withDatabase(cfg, async (database) => {
        const compliance = new ComplianceService(database, cfg.reportCycleDays);
        if (opts.account) {
          const evidence = await compliance.accountEvidence(opts.account);
          if (opts.json) return say(JSON.stringify(evidence, null, 2));
          say(`${evidence.accountId}  closed ${evidence.closedAt ?? 'no'}`);
          if (evidence.apps.length === 0) say('  no app holds or was told about this account');
          for (const a of evidence.apps) {
            say(
              `  ${a.appKey}  holds ${a.holds ? `yes (retrieved ${a.retrievedAt}, reported ${a.reportedAt})` : 'no'}  told ${a.toldAt ?? '-'}${a.toldBy.length ? ` (${a.toldBy.join(', ')})` : ''}  delivered ${a.deliveredAt ?? '-'}  confirmed ${a.confirmedAt ?? '-'}`,
            );
          }
          return;
        }
        const apps = await compliance.listApps();
        if (opts.json) return say(JSON.stringify(apps, null, 2));
        say(`Cycle: every ${cfg.reportCycleDays} days`);
        for (const a of apps) {
          say(
            `${a.appKey}  ${a.state}  stores PD ${a.storesPersonalData ? 'yes' : 'no'}  held ${a.heldAccounts}  overdue ${a.overdueAccounts}  last report ${a.lastReportedAt ?? 'never'}`,
          );
        }
      });
    });

  const app = program.commands.find((c) => c.name() === 'app') ?? program.command('app');
  app
    .command('rotate-webhook-secret')
    .description(
      'Give an app a new webhook signing secret (printed once); the previous one also signs for CUSTOS_WEBHOOK_SECRET_GRACE_HOURS',
    )
    .argument('<key>')
    .action(async (key: string) => {
      const cfg = config();
      const secrets = new SecretBox(loadMasterKey({ key: cfg.secretKey, keyFile: cfg.secretKeyFile }));
      const rotated = await withDatabase(cfg, (database) =>
        rotateWebhookSecret(
          database,
          secrets,
          new AuditLog(database),
          key,
          cfg.webhookSecretGraceMs,
          OPERATOR,
        ),
      );
      say(`New webhook signing secret for ${key} (store it now: it is shown only once).`);
      say(`The previous secret also signs until ${rotated.previousValidUntil}.`);
      say(rotated.secret);
    });
}
