import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Controller, DO_NOT_SELL_OR_SHARE, type ReceiptFacts } from '../../src/consent/receipt.model.js';
import { findReceipt } from '../../src/consent/receipt.repository.js';
import { ReceiptService } from '../../src/consent/receipt.service.js';
import {
  decodeReceipt,
  encodeReceipt,
  encodeSigned,
  RECEIPT_DICTIONARY_V1,
  RECEIPT_FORMAT,
} from '../../src/consent/receipt-storage.js';
import { verifyReceipt } from '../../src/consent/receipt-verify.js';
import { KeyRing } from '../../src/crypto/key-ring.js';
import { type Database, openDatabase } from '../../src/db/dialect.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

let testDatabase: TestDatabase;
let database: Database;
let keysDir: string;
let keys: KeyRing;

beforeAll(async () => {
  testDatabase = await createTestDatabase();
  database = openDatabase(testDatabase.url);
  await migrateToLatest(database.db);
  keysDir = mkdtempSync(join(tmpdir(), 'receipt-keys-'));
  keys = new KeyRing(keysDir, true);
});
afterAll(async () => {
  await database?.close();
  await testDatabase?.drop();
  if (keysDir) rmSync(keysDir, { recursive: true, force: true });
});

const CONTROLLER: Controller = {
  name: 'Example Corp',
  contact: 'privacy@example.com',
  policyUrl: 'https://www.example.com/privacy',
  issuer: 'https://custos.example.com',
};

/** Any text, beyond ASCII: names, keys and URLs are the operator's and the person's. */
const text = fc.string({ unit: 'grapheme', maxLength: 40 });
const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);

const controllers: fc.Arbitrary<Controller> = fc.record({
  name: text,
  contact: fc.option(text, { nil: undefined }),
  policyUrl: fc.option(fc.webUrl(), { nil: undefined }),
  issuer: fc.webUrl(),
});

const facts: fc.Arbitrary<ReceiptFacts> = fc.record(
  {
    receiptId: fc.uuid(),
    at: fc
      .date({
        min: new Date('2000-01-01T00:00:00Z'),
        max: new Date('2100-01-01T00:00:00Z'),
        noInvalidDate: true,
      })
      .map((d) => d.toISOString()),
    jurisdiction: fc.oneof(fc.constantFrom('DE', 'NL', 'GB', 'UNKNOWN'), text),
    method: fc.oneof(fc.constantFrom('api', 'privacy-centre', 'objection', 'gpc'), text),
    principal: fc.oneof(
      fc.uuid().map((accountId) => ({ accountId })),
      hex64.map((emailSha256) => ({ emailSha256 })),
    ),
    purpose: fc.oneof(
      fc.constantFrom('generalMarketingOptIn', DO_NOT_SELL_OR_SHARE, 'direct-marketing'),
      text,
    ),
    status: fc.constantFrom('given', 'withdrawn', 'objected', 'opted-out'),
    notice: fc.option(fc.record({ version: text, textSha256: hex64 }), { nil: null }),
    formUrl: fc.option(fc.oneof(fc.webUrl(), text), { nil: null }),
    preferences: fc.record({ doNotSellOrShare: fc.boolean() }),
  },
  {
    requiredKeys: [
      'receiptId',
      'at',
      'jurisdiction',
      'method',
      'principal',
      'purpose',
      'status',
      'notice',
      'formUrl',
    ],
  },
);

describe('receipt storage', () => {
  it('reads back every stored receipt byte for byte, and it verifies against the published keys', async () => {
    const jwks = { keys: await keys.publicKeys() };
    await fc.assert(
      fc.asyncProperty(controllers, facts, async (controller, stated) => {
        const receipts = new ReceiptService(database, keys, controller);
        const { kid, jws } = await receipts.sign(stated);
        await database.writeTransaction((trx) =>
          receipts.store(trx, {
            receipt_id: stated.receiptId,
            request_seq: null,
            consent_key: null,
            account_id: 'accountId' in stated.principal ? stated.principal.accountId : null,
            subject_sha256: 'emailSha256' in stated.principal ? stated.principal.emailSha256 : null,
            kid,
            jws,
            issued_at: new Date().toISOString(),
          }),
        );
        const row = await findReceipt(database.db, stated.receiptId);
        expect(row).toMatchObject({ jws: null, format: RECEIPT_FORMAT, header: null });
        expect(row?.signature).toHaveLength(64);
        const read = await receipts.getReceipt(stated.receiptId);
        expect(read.jws).toBe(jws);
        expect(read).toMatchObject({ kid, purpose: stated.purpose, method: stated.method });
        const verified = await verifyReceipt(read.jws, jwks);
        expect(verified.receiptId).toBe(stated.receiptId);
      }),
      { numRuns: 60 },
    );
  });

  it('stores a typical receipt in under a quarter of its JWS', async () => {
    const receipts = new ReceiptService(database, keys, CONTROLLER);
    const { kid, jws } = await receipts.sign({
      receiptId: '0b0f4d6e-8a52-4c3e-9d1c-2f7a8e6b5c41',
      at: '2026-12-01T10:00:00.000Z',
      jurisdiction: 'DE',
      method: 'api',
      principal: { emailSha256: sha256('ada@acme.test') },
      purpose: 'generalMarketingOptIn',
      status: 'given',
      notice: {
        version: '2020-04-02',
        textSha256: sha256('Yes, I would like to receive promotional emails.'),
      },
      formUrl: 'https://www.example.com/newsletter/signup',
    });
    const stored = encodeReceipt(kid, jws);
    const bytes =
      (stored.payload?.length ?? 0) + (stored.signature?.length ?? 0) + (stored.header?.length ?? 0);
    // A current receipt that no longer compresses this well calls for a new format (a new
    // dictionary beside the frozen one), not an edit of format 1.
    expect(bytes).toBeLessThan(jws.length / 4);
  });

  it('stores a receipt from its signed parts exactly as from its JWS', async () => {
    const receipts = new ReceiptService(database, keys, CONTROLLER);
    const { kid, jws } = await receipts.sign({
      receiptId: '7c3e0f52-1d4b-4a8e-b6f0-93d2c5e8a174',
      at: '2026-12-01T10:00:00.000Z',
      jurisdiction: 'FR',
      method: 'privacy-centre',
      principal: { accountId: 'acc-2' },
      purpose: 'generalMarketingOptIn',
      status: 'withdrawn',
      notice: null,
      formUrl: null,
    });
    const [header = '', payload = '', signature = ''] = jws.split('.');
    const parts = {
      header,
      claims: Buffer.from(payload, 'base64url'),
      signature: Buffer.from(signature, 'base64url'),
    };
    expect(encodeSigned(kid, parts)).toEqual(encodeReceipt(kid, jws));
    expect(decodeReceipt({ ...encodeSigned(kid, parts), kid }).jws).toBe(jws);
    // A header of another form is kept, and a signature of another length keeps the JWS whole.
    const otherHeader = Buffer.from(JSON.stringify({ kid, alg: 'EdDSA' })).toString('base64url');
    expect(encodeSigned(kid, { ...parts, header: otherHeader })).toMatchObject({ header: otherHeader });
    const short = { ...parts, signature: parts.signature.subarray(0, 32) };
    expect(encodeSigned(kid, short)).toEqual({
      jws: `${header}.${payload}.${short.signature.toString('base64url')}`,
      format: null,
      header: null,
      payload: null,
      signature: null,
    });
  });

  it('keeps a header other than the one it rebuilds, and whole what it cannot rebuild exactly', async () => {
    const receipts = new ReceiptService(database, keys, CONTROLLER);
    const { kid, jws } = await receipts.sign({
      receiptId: '5f1d1c9e-3b7a-4f0e-8c2d-6a9b0e4d7f13',
      at: '2026-12-01T10:00:00.000Z',
      jurisdiction: 'UNKNOWN',
      method: 'gpc',
      principal: { accountId: 'acc-1' },
      purpose: DO_NOT_SELL_OR_SHARE,
      status: 'opted-out',
      notice: null,
      formUrl: null,
      preferences: { doNotSellOrShare: true },
    });
    const [, payload, signature] = jws.split('.');
    const otherHeader = Buffer.from(JSON.stringify({ kid, alg: 'EdDSA' })).toString('base64url');
    const other = `${otherHeader}.${payload}.${signature}`;
    const stored = encodeReceipt(kid, other);
    expect(stored).toMatchObject({ jws: null, format: RECEIPT_FORMAT, header: otherHeader });
    expect(decodeReceipt({ ...stored, kid }).jws).toBe(other);

    // Base64url whose last character carries bits no decoder keeps, a short signature, no JWS.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const loose = `${jws.slice(0, -1)}${alphabet[alphabet.indexOf(jws.slice(-1)) | 1]}`;
    for (const odd of [loose, `${jws.split('.').slice(0, 2).join('.')}.AAAA`, 'not a jws'])
      expect(encodeReceipt(kid, odd)).toEqual({
        jws: odd,
        format: null,
        header: null,
        payload: null,
        signature: null,
      });
    expect(() => decodeReceipt({ ...stored, kid, format: 2 })).toThrow(/unknown stored format 2/);
  });

  it('never changes format 1’s dictionary: receipts stored with it are read with these bytes', () => {
    expect(sha256(Buffer.from(RECEIPT_DICTIONARY_V1, 'utf8'))).toBe(
      '9cef58ad902581a2f4bc39f868941d7a6092787d79d7c40f60ccd57b0ebc90c9',
    );
  });
});
