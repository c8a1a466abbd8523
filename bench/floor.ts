import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { AuditLog, chainEntries } from '../src/audit/audit.service.js';
import { insertRequests } from '../src/consent/consent.repository.js';
import { applyPendingConsents } from '../src/consent/consent-applier.js';
import { receiptClaims } from '../src/consent/receipt.model.js';
import { ReceiptService } from '../src/consent/receipt.service.js';
import { encodeSigned } from '../src/consent/receipt-storage.js';
import { KeyRing } from '../src/crypto/key-ring.js';
import { openDatabase } from '../src/db/dialect.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { listMemberAccountStates } from '../src/directory/directory-read.service.js';
import { recordReports } from '../src/reporting/reporting.repository.js';

/**
 * The floor under the targets this machine does not meet: the work a request cannot skip
 * without dropping a property, timed alone in one process on SQLite, with no HTTP and no
 * other load. `npm run bench` times whole requests against a bare route; this says how much
 * of a request is that work. Run: `node --import tsx bench/floor.ts`.
 *
 * Each step runs untimed first (WARM_ROUNDS; the inbox and applying on consents of their own,
 * the report steps on the same windows as timed) and is then timed: a server under load runs
 * its code compiled and its statements prepared, and a step timed from cold had counted its
 * first calls' compiling too (up to three times the warm figure for the receipt's steps).
 */

const root = resolve(import.meta.dirname, '..');
const ROUNDS = Number(process.env.BENCH_FLOOR_ROUNDS ?? 2000);
const ACCOUNTS = 10_000;
const PER_REPORT = 90;
const BATCH = 16;
const CONSENTS = 16_000;
const ROUNDS_OF_BATCHES = Math.max(1, Math.floor(ROUNDS / BATCH));
const WARM_ROUNDS = Math.max(BATCH, ROUNDS);
const WARM_CONSENTS = Math.ceil(WARM_ROUNDS / BATCH) * BATCH;

const microseconds = (start: bigint, count: number) => Number(process.hrtime.bigint() - start) / 1000 / count;
const show = (label: string, us: number, note = '') =>
  console.log(`  ${label.padEnd(58)} ${us.toFixed(1).padStart(7)} µs${note ? `  ${note}` : ''}`);

/** Runs `step` for rounds 0 … warm-1 untimed, then warm … warm+count-1 timed: µs per round. */
async function warmThenTime(warm: number, count: number, step: (round: number) => unknown): Promise<number> {
  for (let i = 0; i < warm; i++) await step(i);
  const start = process.hrtime.bigint();
  for (let i = warm; i < warm + count; i++) await step(i);
  return microseconds(start, count);
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'custos-floor-'));
  const url = `sqlite://${join(work, 'floor.db')}`;
  try {
    const database = openDatabase(url);
    await migrateToLatest(database.db);
    const ids = Array.from({ length: ACCOUNTS }, (_, i) => `floor-${String(i).padStart(6, '0')}`);
    const directory = join(work, 'directory.json');
    writeFileSync(
      directory,
      JSON.stringify({
        accounts: ids.map((accountId) => ({ accountId, accountType: 'atlassian' })),
        sites: [{ id: 'floor-site', url: 'https://floor.example.net', members: ids }],
      }),
    );
    await promisify(execFile)(process.execPath, ['dist/cli.js', 'import', directory], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: url, CUSTOS_SECRET_KEY: randomBytes(32).toString('base64') },
    });

    console.log(`The floor, one process, SQLite, no HTTP (${ROUNDS} rounds each)\n`);

    console.log('A durable consent POST, per consent:');
    const { privateKey } = generateKeyPairSync('ed25519');
    const controller = {
      name: 'Example Ltd',
      contact: 'privacy@example.com',
      policyUrl: 'https://example.com/privacy',
      issuer: 'https://custos.example.com',
    };
    const facts = (i: number) => ({
      receiptId: `0b0f4d6e-8a52-4c3e-9d1c-${String(i).padStart(12, '0')}`,
      at: new Date().toISOString(),
      jurisdiction: 'DE',
      method: 'api',
      principal: { emailSha256: 'ab'.repeat(32) },
      purpose: 'generalMarketingOptIn',
      status: 'given' as const,
      notice: { version: '2020-04-02', textSha256: 'cd'.repeat(32) },
      formUrl: 'https://www.example.com/newsletter/signup',
    });
    const payloads: Buffer[] = [];
    const claimsUs = await warmThenTime(WARM_ROUNDS, ROUNDS, (i) => {
      payloads[i] = Buffer.from(JSON.stringify(receiptClaims(facts(i), controller)), 'utf8');
    });
    show('the receipt’s claims as JSON', claimsUs);
    const signatures: Buffer[] = [];
    // What is signed: the header and the claims, each in base64url (RFC 7515 §5.1).
    const inputs = payloads.map((claims) =>
      Buffer.from(`${'h'.repeat(120)}.${claims.toString('base64url')}`),
    );
    const signUs = await warmThenTime(WARM_ROUNDS, ROUNDS, (i) => {
      signatures[i] = sign(null, inputs[i] as Buffer, privateKey);
    });
    show('its Ed25519 signature (node:crypto)', signUs, 'GDPR art. 7(1): a proof the person keeps');
    const receipts = new ReceiptService(database, new KeyRing(join(work, 'keys'), true), controller);
    const kid = 'k'.repeat(43);
    const storeUs = await warmThenTime(WARM_ROUNDS, ROUNDS, (i) =>
      encodeSigned(kid, { header: 'h', claims: payloads[i] as Buffer, signature: signatures[i] as Buffer }),
    );
    show('stored in parts, the payload deflated', storeUs);
    const entries = Array.from({ length: BATCH }, (_, i) => ({
      actor: { type: 'api-client' as const, id: 'client-1' },
      action: 'consent.changed' as const,
      details: { requestSeq: i, consentKey: 'generalMarketingOptIn', granted: true },
    }));
    const chainUs = await warmThenTime(Math.ceil(WARM_ROUNDS / BATCH), ROUNDS_OF_BATCHES, () =>
      chainEntries(entries, '0'.repeat(64), new Date().toISOString()),
    );
    show('its audit entry chained (canonical JSON, SHA-256)', chainUs / BATCH);

    const request = (i: number) => ({
      email: `person-${i}@example.com`,
      locale: 'DE',
      form_url: 'https://www.example.com/newsletter/signup',
      provider_id: null,
      consents: JSON.stringify([
        {
          key: 'generalMarketingOptIn',
          granted: false,
          displayedText: null,
          textSha256: null,
          noticeVersion: null,
        },
      ]),
      client_id: 'client-1',
      remote_addr: '203.0.113.5',
      user_agent: 'floor',
      received_at: new Date().toISOString(),
      applied_at: null,
    });
    // Batch n writes consents n·BATCH … n·BATCH+BATCH-1; the first are the warm-up's.
    const insertBatch = (n: number) =>
      database.writeTransaction((trx) =>
        insertRequests(
          trx,
          Array.from({ length: BATCH }, (_, j) => request(n * BATCH + j)),
        ),
      );
    const audit = new AuditLog(database);
    const applyAll = async () => {
      let applied = 0;
      for (;;) {
        const batch = await applyPendingConsents(database, audit, receipts, { limit: BATCH });
        if (batch.applied === 0) return applied;
        applied += batch.applied;
      }
    };
    const warmBatches = WARM_CONSENTS / BATCH;
    const inboxUs = await warmThenTime(warmBatches, CONSENTS / BATCH, async (n) => {
      await insertBatch(n);
      // The warm-up's rows are applied before the timed inserts, so that applying is warm too.
      if (n === warmBatches - 1) await applyAll();
    });
    show(`the inbox row, durable (${BATCH} per commit, fsync each)`, inboxUs / BATCH);
    const start = process.hrtime.bigint();
    const applied = await applyAll();
    show(`applied: event, signed receipt, audit entry (${BATCH} per batch)`, microseconds(start, applied));

    console.log(`\nreport-accounts, per request of ${PER_REPORT} accounts (the database work only):`);
    const windows = Array.from({ length: 100 }, (_, n) => ids.slice(n * PER_REPORT, (n + 1) * PER_REPORT));
    const window = (i: number) => windows[i % windows.length] as string[];
    const retrievedAt = new Date().toISOString();
    const readUs = await warmThenTime(WARM_ROUNDS, ROUNDS, (i) =>
      listMemberAccountStates(database.db, window(i), ['floor-site']),
    );
    show('which accounts are members of the app’s sites', readUs);
    // The warm-up reports every window once (at least 100 rounds), so the timed rounds update
    // holdings already there, as an app reporting its accounts cycle after cycle does.
    const upsertUs = await warmThenTime(Math.max(WARM_ROUNDS, windows.length), ROUNDS, (i) =>
      database.writeTransaction(
        (trx) =>
          recordReports(trx, [
            {
              appKey: 'floor-app',
              holdings: window(i).map((accountId) => ({ accountId, retrievedAt })),
              closed: [],
            },
          ]),
        { durable: false },
      ),
    );
    show('the holdings upserted (one report per commit, no fsync)', upsertUs);
    await database.close();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
