#!/usr/bin/env node
import { Command } from 'commander';
import { registerAccessCommands } from './cli/access.commands.js';
import { registerAuditCommands } from './cli/audit.commands.js';
import { registerDirectoryCommands } from './cli/directory.commands.js';
import { registerDsrCommands } from './cli/dsr.commands.js';
import { registerJobCommands } from './cli/jobs.commands.js';
import { registerNoticeCommands } from './cli/notice.commands.js';
import { registerOAuthCommands } from './cli/oauth.commands.js';
import { registerOperatorCommands } from './cli/operator.commands.js';
import { registerReceiptCommands } from './cli/receipt.commands.js';
import { registerReportingCommands } from './cli/reporting.commands.js';
import { registerSignInCommands } from './cli/signin.commands.js';
import { registerTokenCommands } from './cli/token.commands.js';
import { registerWebhookCommands } from './cli/webhook.commands.js';
import { type Config, ConfigError, loadConfig } from './config.js';
import { openDatabase } from './db/dialect.js';
import { migrateToLatest } from './db/migrator.js';
import { ImportValidationError } from './directory/import.validate.js';
import { AppError } from './errors/app-error.js';
import { startServer, startWorker, stopOnSignals } from './server.js';

const program = new Command()
  .name('custos')
  .description(
    'Custos: self-hosted privacy and consent platform. Configuration comes from the environment (see .env.example).',
  )
  .showHelpAfterError();

const say = (line: string) => process.stdout.write(`${line}\n`);
const config = () => loadConfig();

/**
 * A reader that stops early (`custos token list | head`) closes the pipe, and the next write
 * fails with EPIPE. That ends a one-shot command, successfully, as it ends `ls | head`; a
 * server keeps serving (its log already drops writes to a closed pipe).
 */
let serving = false;
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    if (!serving) process.exit(0);
  });
}

program
  .command('serve')
  .description('Start the HTTP API (PORT, HOST) with an in-process background worker')
  .action(async () => {
    serving = true;
    const cfg = config();
    const starting = startServer(cfg);
    // Handlers first: whoever starts Custos may stop it as soon as it answers.
    stopOnSignals(starting, cfg.shutdownTimeoutMs, (m) => process.stderr.write(`${m}\n`));
    say(`Custos listening on ${(await starting).url}`);
  });

program
  .command('worker')
  .description(
    'Run background work only (applying consent updates, delivering webhooks, scheduled jobs), beside one or more `serve` processes',
  )
  .action(async () => {
    serving = true;
    const cfg = config();
    const starting = startWorker(cfg);
    stopOnSignals(starting, cfg.shutdownTimeoutMs, (m) => process.stderr.write(`${m}\n`));
    await starting;
    say('Custos worker running');
  });

program
  .command('migrate')
  .description('Apply pending database migrations')
  .action(async () => {
    const cfg = config();
    const database = openDatabase(cfg.databaseUrl, { pgPoolSize: 2, lockWaitMs: cfg.sqliteLockWaitMs });
    try {
      const applied = await migrateToLatest(database.db);
      say(applied.length === 0 ? 'Database is up to date' : `Applied: ${applied.join(', ')}`);
    } finally {
      await database.close();
    }
  });

/**
 * Every group of operator commands, registered in one place. Each command builds the same
 * context as `serve` (background work off) and calls the service its admin API twin calls.
 */
const commandGroups: ((program: Command, config: () => Config, say: (line: string) => void) => void)[] = [
  registerTokenCommands,
  registerNoticeCommands,
  registerDirectoryCommands,
  registerWebhookCommands,
  registerReportingCommands,
  registerAccessCommands,
  registerAuditCommands,
  registerJobCommands,
  registerOperatorCommands,
  registerSignInCommands,
  registerOAuthCommands,
  registerDsrCommands,
  registerReceiptCommands,
];
for (const register of commandGroups) register(program, config, say);

program.parseAsync().catch((error: unknown) => {
  if (error instanceof ImportValidationError) {
    const outcome = error.partlyWritten
      ? 'was imported only in part (another writer took a value after the checks); fix it and import the file again'
      : 'was not imported; nothing was written';
    process.stderr.write(`custos: the file ${outcome}. ${error.problems.length} problem(s):\n`);
    for (const p of error.problems) process.stderr.write(`  ${p.path}: ${p.message}\n`);
    process.exit(1);
  }
  const message =
    error instanceof AppError || error instanceof ConfigError || error instanceof Error
      ? error.message
      : String(error);
  process.stderr.write(`custos: ${message}\n`);
  process.exit(1);
});
