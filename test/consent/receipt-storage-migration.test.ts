import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DO_NOT_SELL_OR_SHARE, type ReceiptFacts } from '../../src/consent/receipt.model.js';
import { findReceipt, insertReceipts } from '../../src/consent/receipt.repository.js';
import { ReceiptService } from '../../src/consent/receipt.service.js';
import { verifyReceipt } from '../../src/consent/receipt-verify.js';
import { KeyRing } from '../../src/crypto/key-ring.js';
import type { Database } from '../../src/db/dialect.js';
import { createMigrator, migrateToLatest } from '../../src/db/migrator.js';
import { testEngine } from '../helpers/database.js';
import { databasesMigratedTo } from '../helpers/migrations.js';

const BEFORE = '20261201-0018-holdings-fillfactor';
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const ADA = sha256('ada@acme.test');

/** A database of the release before receipts were stored compactly. */
const legacyDatabase = databasesMigratedTo(BEFORE);

let keysDir: string;
let keys: KeyRing;
beforeAll(() => {
  keysDir = mkdtempSync(join(tmpdir(), 'receipt-keys-'));
  keys = new KeyRing(keysDir, true);
});
afterAll(() => rmSync(keysDir, { recursive: true, force: true }));

function service(database: Database) {
  return new ReceiptService(database, keys, {
    name: 'Example Corp',
    contact: 'privacy@example.com',
    policyUrl: 'https://www.example.com/privacy',
    issuer: 'https://custos.example.com',
  });
}

const consent = (receiptId: string): ReceiptFacts => ({
  receiptId,
  at: '2026-11-30T10:00:00.000Z',
  jurisdiction: 'DE',
  method: 'api',
  principal: { emailSha256: ADA },
  purpose: 'generalMarketingOptIn',
  status: 'given',
  notice: { version: '2020-04-02', textSha256: sha256('Yes, please.') },
  formUrl: 'https://www.example.com/newsletter',
});

const gpc = (receiptId: string): ReceiptFacts => ({
  receiptId,
  at: '2026-11-30T11:00:00.000Z',
  jurisdiction: 'UNKNOWN',
  method: 'gpc',
  principal: { accountId: 'acc-1' },
  purpose: DO_NOT_SELL_OR_SHARE,
  status: 'opted-out',
  notice: null,
  formUrl: null,
  preferences: { doNotSellOrShare: true },
});

/** The receipts table of the release before: the whole JWS, purpose and method beside it. */
interface LegacyDB {
  consent_receipts: {
    receipt_id: string;
    request_seq: number | null;
    consent_key: string | null;
    account_id: string | null;
    subject_sha256: string | null;
    purpose: string;
    method: string;
    kid: string;
    jws: string;
    issued_at: string;
  };
}
const legacy = (database: Database) => database.db as unknown as Kysely<LegacyDB>;

/** Receipts as the release before stored them. */
async function storeWhole(database: Database) {
  const receipts = service(database);
  const first = await receipts.sign(consent('11111111-1111-4111-8111-111111111111'));
  const second = await receipts.sign(gpc('22222222-2222-4222-8222-222222222222'));
  await legacy(database)
    .insertInto('consent_receipts')
    .values([
      {
        receipt_id: '11111111-1111-4111-8111-111111111111',
        request_seq: 1,
        consent_key: 'generalMarketingOptIn',
        account_id: null,
        subject_sha256: ADA,
        purpose: 'generalMarketingOptIn',
        method: 'api',
        kid: first.kid,
        jws: first.jws,
        issued_at: '2026-11-30T10:00:00.010Z',
      },
      {
        receipt_id: '22222222-2222-4222-8222-222222222222',
        request_seq: null,
        consent_key: null,
        account_id: 'acc-1',
        subject_sha256: null,
        purpose: DO_NOT_SELL_OR_SHARE,
        method: 'gpc',
        kid: second.kid,
        jws: second.jws,
        issued_at: '2026-11-30T11:00:00.000Z',
      },
    ])
    .execute();
  return { consent: first.jws, gpc: second.jws };
}

describe('compact consent receipts', () => {
  it('reads receipts stored before the migration as they were, and stores new ones compactly', async () => {
    const database = await legacyDatabase();
    const before = await storeWhole(database);
    await migrateToLatest(database.db);
    const receipts = service(database);

    const old = await receipts.listReceiptsOf('acc-1', 'ada@acme.test');
    expect(old.map((r) => [r.jws, r.purpose, r.method])).toEqual([
      [before.gpc, DO_NOT_SELL_OR_SHARE, 'gpc'],
      [before.consent, 'generalMarketingOptIn', 'api'],
    ]);
    expect(await findReceipt(database.db, '11111111-1111-4111-8111-111111111111')).toMatchObject({
      jws: before.consent,
      format: null,
      payload: null,
    });

    const { kid, jws } = await receipts.sign(consent('33333333-3333-4333-8333-333333333333'));
    const row = {
      receipt_id: '33333333-3333-4333-8333-333333333333',
      request_seq: 2,
      consent_key: 'generalMarketingOptIn',
      account_id: null,
      subject_sha256: ADA,
      kid,
      jws,
      issued_at: '2026-11-30T12:00:00.000Z',
    };
    await database.writeTransaction((trx) => receipts.store(trx, row));
    const stored = await findReceipt(database.db, row.receipt_id);
    expect(stored).toMatchObject({ jws: null, format: 1, header: null });
    expect((stored?.payload?.length ?? 0) + (stored?.signature?.length ?? 0)).toBeLessThan(jws.length / 4);
    const read = await receipts.getReceipt(row.receipt_id);
    expect(read).toMatchObject({ jws, purpose: 'generalMarketingOptIn', method: 'api', kid });
    await verifyReceipt(read.jws, await receipts.jwks());

    // The event's receipt is still unique after the table was rebuilt.
    await database.writeTransaction((trx) =>
      receipts.store(trx, { ...row, receipt_id: crypto.randomUUID() }),
    );
    const rows = await database.db.selectFrom('consent_receipts').select('receipt_id').execute();
    expect(rows).toHaveLength(3);
    // A row holds the whole JWS or a stored format, never neither.
    await expect(
      insertReceipts(database.db, [
        {
          ...row,
          receipt_id: crypto.randomUUID(),
          request_seq: 3,
          jws: null,
          format: null,
          header: null,
          payload: null,
          signature: null,
        },
      ]),
    ).rejects.toThrow();

    if (testEngine === 'sqlite') {
      const { rows: indexes } = await sql<{ name: string; sql: string | null }>`
        SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'consent_receipts'
         ORDER BY name`.execute(database.db);
      expect(indexes.map((i) => i.name)).toEqual([
        'consent_receipts_account_idx',
        'consent_receipts_subject_idx',
        'sqlite_autoindex_consent_receipts_1',
        'sqlite_autoindex_consent_receipts_2',
      ]);
      expect(indexes[0]?.sql).toMatch(/where "account_id" is not null/i);
      const { rows: plan } = await sql<{ detail: string }>`
        EXPLAIN QUERY PLAN SELECT * FROM consent_receipts
         WHERE account_id = ${'acc-1'} OR subject_sha256 = ${ADA}`.execute(database.db);
      expect(plan.map((p) => p.detail).join('\n')).toMatch(/consent_receipts_account_idx[\s\S]*subject_idx/);
    }

    // Down would lose the compact receipts: it refuses and changes nothing.
    const down = await createMigrator(database.db).migrateTo(BEFORE);
    expect(String(down.error)).toMatch(/cannot be migrated down: 1 consent receipts are stored compactly/);
    expect((await receipts.getReceipt(row.receipt_id)).jws).toBe(jws);
  });

  it('migrates down while every receipt is whole, purpose and method read from the JWS', async () => {
    const database = await legacyDatabase();
    const before = await storeWhole(database);
    const columns = () =>
      legacy(database).selectFrom('consent_receipts').selectAll().orderBy('receipt_id').execute();
    const whole = await columns();
    await migrateToLatest(database.db);
    expect((await createMigrator(database.db).migrateTo(BEFORE)).error).toBeUndefined();
    expect(await columns()).toEqual(whole);
    expect(whole.map((r) => r.jws)).toEqual([before.consent, before.gpc]);
    await migrateToLatest(database.db);
    expect((await service(database).getReceipt('22222222-2222-4222-8222-222222222222')).jws).toBe(before.gpc);
  });
});
