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
 */

const root = resolve(import.meta.dirname, '..');
const ROUNDS = Number(process.env.BENCH_FLOOR_ROUNDS ?? 2000);
const ACCOUNTS = 10_000;
const PER_REPORT = 90;
const BATCH = 16;
const CONSENTS = 16_000;
const ROUNDS_OF_BATCHES = Math.max(1, Math.floor(ROUNDS / BATCH));

const microseconds = (start: bigint, count: number) => Number(process.hrtime.bigint() - start) / 1000 / count;
const show = (label: string, us: number, note = '') =>
  console.log(`  ${label.padEnd(58)} ${us.toFixed(1).padStart(7)} µs${note ? `  ${note}` : ''}`);

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
    let start = process.hrtime.bigint();
    const payloads: Buffer[] = [];
    for (let i = 0; i < ROUNDS; i++)
      payloads.push(Buffer.from(JSON.stringify(receiptClaims(facts(i), controller)), 'utf8'));
    show('the receipt’s claims as JSON', microseconds(start, ROUNDS));
    const signatures: Buffer[] = [];
    // What is signed: the header and the claims, each in base64url (RFC 7515 §5.1).
    const inputs = payloads.map((claims) =>
      Buffer.from(`${'h'.repeat(120)}.${claims.toString('base64url')}`),
    );
    start = process.hrtime.bigint();
    for (let i = 0; i < ROUNDS; i++) signatures.push(sign(null, inputs[i] as Buffer, privateKey));
    show(
      'its Ed25519 signature (node:crypto)',
      microseconds(start, ROUNDS),
      'GDPR art. 7(1): a proof the person keeps',
    );
    const receipts = new ReceiptService(database, new KeyRing(join(work, 'keys'), true), controller);
    const kid = 'k'.repeat(43);
    start = process.hrtime.bigint();
    for (let i = 0; i < ROUNDS; i++)
      encodeSigned(kid, { header: 'h', claims: payloads[i] as Buffer, signature: signatures[i] as Buffer });
    show('stored in parts, the payload deflated', microseconds(start, ROUNDS));
    const entries = Array.from({ length: BATCH }, (_, i) => ({
      actor: { type: 'api-client' as const, id: 'client-1' },
      action: 'consent.changed' as const,
      details: { requestSeq: i, consentKey: 'generalMarketingOptIn', granted: true },
    }));
    start = process.hrtime.bigint();
    for (let i = 0; i < ROUNDS_OF_BATCHES; i++)
      chainEntries(entries, '0'.repeat(64), new Date().toISOString());
    show('its audit entry chained (canonical JSON, SHA-256)', microseconds(start, ROUNDS_OF_BATCHES * BATCH));

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
    start = process.hrtime.bigint();
    for (let i = 0; i < CONSENTS; i += BATCH)
      await database.writeTransaction((trx) =>
        insertRequests(
          trx,
          Array.from({ length: BATCH }, (_, j) => request(i + j)),
        ),
      );
    show(`the inbox row, durable (${BATCH} per commit, fsync each)`, microseconds(start, CONSENTS));
    const audit = new AuditLog(database);
    start = process.hrtime.bigint();
    let applied = 0;
    for (;;) {
      const batch = await applyPendingConsents(database, audit, receipts, BATCH);
      if (batch.applied === 0) break;
      applied += batch.applied;
    }
    show(`applied: event, signed receipt, audit entry (${BATCH} per batch)`, microseconds(start, applied));

    console.log(`\nreport-accounts, per request of ${PER_REPORT} accounts (the database work only):`);
    const windows = Array.from({ length: 100 }, (_, n) => ids.slice(n * PER_REPORT, (n + 1) * PER_REPORT));
    const retrievedAt = new Date().toISOString();
    start = process.hrtime.bigint();
    for (let i = 0; i < ROUNDS; i++)
      await listMemberAccountStates(database.db, windows[i % windows.length] as string[], ['floor-site']);
    show('which accounts are members of the app’s sites', microseconds(start, ROUNDS));
    start = process.hrtime.bigint();
    for (let i = 0; i < ROUNDS; i++) {
      const holdings = (windows[i % windows.length] as string[]).map((accountId) => ({
        accountId,
        retrievedAt,
      }));
      await database.writeTransaction(
        (trx) => recordReports(trx, [{ appKey: 'floor-app', holdings, closed: [] }]),
        {
          durable: false,
        },
      );
    }
    show('the holdings upserted (one report per commit, no fsync)', microseconds(start, ROUNDS));
    await database.close();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
