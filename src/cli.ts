#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { createToken, listTokens, revokeToken } from './auth/api-token.service.js';
import { API_CLIENT_SCOPES } from './auth/principal.js';
import { registerAccessCommands } from './cli/access.commands.js';
import { registerAuditCommands } from './cli/audit.commands.js';
import { auditOperator, withDatabase } from './cli/database.js';
import { OPERATOR, withDirectory } from './cli/directory.js';
import { registerJobCommands } from './cli/jobs.commands.js';
import { registerReportingCommands } from './cli/reporting.commands.js';
import { registerWebhookCommands } from './cli/webhook.commands.js';
import { ConfigError, loadConfig } from './config.js';
import { addNotice, listNotices } from './consent/notice.service.js';
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
    const running = await startServer(cfg);
    say(`Custos listening on ${running.url}`);
    stopOnSignals(running, cfg.shutdownTimeoutMs, (m) => process.stderr.write(`${m}\n`));
  });

program
  .command('worker')
  .description(
    'Run background work only (applying consent updates, delivering webhooks, scheduled jobs), beside one or more `serve` processes',
  )
  .action(async () => {
    serving = true;
    const cfg = config();
    const running = await startWorker(cfg);
    say('Custos worker running');
    stopOnSignals(running, cfg.shutdownTimeoutMs, (m) => process.stderr.write(`${m}\n`));
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

const token = program.command('token').description('Manage API tokens for HTTP Basic (email:token) clients');

token
  .command('create')
  .description(
    'Create a token (and the API client if needed), granting scopes; prints the token alone on the last line',
  )
  .requiredOption('--email <email>', 'the API client email used as the Basic username')
  .requiredOption('--scope <scope...>', `scope(s) to grant: ${API_CLIENT_SCOPES.join(', ')}`)
  .option('--label <label>', 'a note to recognise the token by')
  .action(async (opts: { email: string; scope: string[]; label?: string }) => {
    const created = await withDatabase(config(), async (db) => {
      const made = await createToken(db, { email: opts.email, scopes: opts.scope, label: opts.label });
      await auditOperator(db, {
        action: 'admin.token-created',
        details: { clientId: made.clientId, tokenId: made.tokenId, scopes: opts.scope.join(' ') },
      });
      return made;
    });
    say(
      `${created.createdClient ? 'Created API client' : 'API client'} ${created.clientId}; token id ${created.tokenId}`,
    );
    say('Store this token now: it is shown only once.');
    say(created.token);
  });

token
  .command('list')
  .description("List tokens with their client's scopes (never their secrets)")
  .action(async () => {
    const rows = await withDatabase(config(), listTokens);
    if (rows.length === 0) say('No tokens');
    for (const r of rows) {
      const state = r.revoked_at ? `revoked ${r.revoked_at}` : 'active';
      const scopes = r.scopes.length > 0 ? r.scopes.join(',') : 'no scopes';
      say(
        `${r.id}  ${r.email}  ${scopes}  ${state}  created ${r.created_at}  last used ${r.last_used_at ?? 'never'}${r.label ? `  ${r.label}` : ''}`,
      );
    }
  });

token
  .command('revoke')
  .description('Revoke a token by id; it stops working at once')
  .argument('<tokenId>')
  .action(async (tokenId: string) => {
    const revoked = await withDatabase(config(), async (db) => {
      const done = await revokeToken(db, tokenId);
      if (done) await auditOperator(db, { action: 'admin.token-revoked', details: { tokenId } });
      return done;
    });
    if (!revoked) throw new AppError('NOT_FOUND', `No active token ${tokenId}`);
    say(`Revoked ${tokenId}`);
  });

const notice = program.command('notice').description('Manage the registry of consent notice texts');

notice
  .command('add')
  .description(
    'Register a new version of a consent notice; granting that key then requires one of its registered texts',
  )
  .requiredOption('--key <key>', 'consent key, e.g. generalMarketingOptIn')
  .requiredOption('--version <version>', 'version label, e.g. 2026-11')
  .addOption(new Option('--text <text>', 'the exact text shown to users').conflicts('file'))
  .addOption(new Option('--file <path>', 'read the exact text from a file').conflicts('text'))
  .option('--effective <date>', 'when this version takes effect (ISO 8601; default now)')
  .action(
    async (opts: { key: string; version: string; text?: string; file?: string; effective?: string }) => {
      const text = opts.text ?? (opts.file ? readFileSync(opts.file, 'utf8') : undefined);
      if (text === undefined)
        throw new AppError('VALIDATION_FAILED', 'Give the notice text with --text or --file');
      const row = await withDatabase(config(), async (db) => {
        const added = await addNotice(db, {
          key: opts.key,
          version: opts.version,
          text,
          effectiveAt: opts.effective,
        });
        await auditOperator(db, {
          action: 'admin.notice-added',
          details: { key: added.key, version: added.version, sha256: added.sha256 },
        });
        return added;
      });
      say(`Registered ${row.key} version ${row.version} (sha256 ${row.sha256})`);
    },
  );

notice
  .command('list')
  .description('List registered notice versions')
  .action(async () => {
    for (const n of await withDatabase(config(), listNotices)) {
      say(
        `${n.key}  ${n.version}  effective ${n.effective_at}  sha256 ${n.sha256}\n  ${JSON.stringify(n.text)}`,
      );
    }
  });

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
    const summary = await withDirectory(config(), ({ importer }) => importer.importDirectory(data, OPERATOR));
    for (const [kind, c] of Object.entries(summary)) {
      say(`${kind}: ${c.created} created, ${c.updated} updated, ${c.unchanged} unchanged`);
    }
  });

const account = program.command('account').description('Manage accounts');

account
  .command('close')
  .description('Close an account: erase its profile PD, keep its accountId and the closure record')
  .argument('<accountId>')
  .action(async (accountId: string) => {
    const closed = await withDirectory(config(), ({ directory }) =>
      directory.closeAccount(accountId, OPERATOR),
    );
    say(
      closed.alreadyClosed ? `${accountId} was already closed on ${closed.closedAt}` : `Closed ${accountId}`,
    );
  });

const appCommand = program.command('app').description('Manage apps');

appCommand
  .command('show')
  .description("Show an app's settings; a webhook secret Custos generated is shown once, the first time")
  .argument('<key>')
  .action(async (key: string) => {
    const details = await withDirectory(config(), ({ directory }) =>
      directory.showApp(key, { revealSecret: true }),
    );
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

program
  .command('uninstall')
  .description(
    'Uninstall an app from a site by the installation clientKey; its credentials stop working at once',
  )
  .argument('<clientKey>')
  .action(async (clientKey: string) => {
    await withDirectory(config(), ({ directory }) => directory.uninstall(clientKey, OPERATOR));
    say(`Uninstalled ${clientKey}`);
  });

registerWebhookCommands(program, config, say);
registerReportingCommands(program, config, say);
registerAccessCommands(program, config, say);
registerAuditCommands(program, config, say);
registerJobCommands(program, config, say);

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
