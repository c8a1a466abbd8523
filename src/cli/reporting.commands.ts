import type { Command } from 'commander';
import type { Config } from '../config.js';
import { withContext } from './context.js';

/**
 * `custos compliance`: the holdings register and the GDPR art. 19 evidence, as the admin
 * API's compliance routes show them.
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
      await withContext(cfg, async ({ compliance }) => {
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
}
