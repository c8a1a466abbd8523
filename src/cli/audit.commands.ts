import type { Command } from 'commander';
import { verifyAuditChain } from '../audit/audit.verify.js';
import type { Config } from '../config.js';
import { withDatabase } from './database.js';

/** `custos audit …`: check that the audit log is the one that was written. */
export function registerAuditCommands(program: Command, config: () => Config, say: (line: string) => void) {
  const audit = program.command('audit').description('The tamper-evident audit log');

  audit
    .command('verify')
    .description('Walk the hash chain from the first entry; report the first broken link and exit 1')
    .option('--batch-size <n>', 'entries read per query (memory stays bounded)', '1000')
    .action(async (opts: { batchSize: string }) => {
      const batchSize = Number(opts.batchSize);
      const report = await withDatabase(config(), (db) =>
        verifyAuditChain(db.db, Number.isInteger(batchSize) && batchSize > 0 ? batchSize : 1000),
      );
      if (report.broken) {
        process.stderr.write(
          `custos: audit chain broken at entry ${report.broken.id}: ${report.broken.problem} (${report.checked} entries before it verified)\n`,
        );
        process.exitCode = 1;
        return;
      }
      say(
        `Audit chain intact: ${report.checked} entries; last entry ${report.lastId ?? '-'}, hash ${report.lastHash}`,
      );
    });
}
