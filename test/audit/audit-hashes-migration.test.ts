import { type Kysely, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { listAuditEvents } from '../../src/audit/audit.repository.js';
import { type AuditEntry, AuditLog, GENESIS_HASH } from '../../src/audit/audit.service.js';
import { verifyAuditChain } from '../../src/audit/audit.verify.js';
import { createMigrator, migrateToLatest } from '../../src/db/migrator.js';
import type { DB } from '../../src/db/schema.js';
import { appendAsHexText } from '../helpers/audit-hex.js';
import { testEngine } from '../helpers/database.js';
import { databasesMigratedTo } from '../helpers/migrations.js';

const BEFORE = '20261201-0018-holdings-fillfactor';
const MIGRATION = '20261201-0019-audit-hashes';

/** A database of the release that stored the hashes as hex text. */
const legacyDatabase = databasesMigratedTo(BEFORE);

const entry = (n: number, accountId?: string): AuditEntry => ({
  actor: { type: 'api-client', id: 'client-1' },
  action: 'consent.changed',
  accountId,
  details: { requestSeq: n, consentKey: 'generalMarketingOptIn', granted: n % 2 === 1 },
});

/** The hashes as the table holds them, in id order. */
async function storedHashes(db: Kysely<DB>) {
  const rows = await db
    .selectFrom('audit_events')
    .select(['id', 'prev_hash', 'hash'])
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ id: Number(r.id), prev_hash: r.prev_hash as unknown, hash: r.hash as unknown }));
}

/** The table's definition: columns, constraints and indexes (partial ones with their `where`). */
async function definition(db: Kysely<DB>): Promise<unknown[]> {
  if (testEngine === 'sqlite') {
    const { rows } = await sql`SELECT type, name, sql FROM sqlite_schema
      WHERE tbl_name = 'audit_events' ORDER BY type, name`.execute(db);
    return rows;
  }
  const columns = await sql`SELECT column_name, data_type, is_nullable, column_default
    FROM information_schema.columns WHERE table_name = 'audit_events' ORDER BY ordinal_position`.execute(db);
  const indexes = await sql`SELECT indexname, indexdef FROM pg_indexes
    WHERE tablename = 'audit_events' ORDER BY indexname`.execute(db);
  const constraints = await sql`SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
    WHERE conrelid = 'audit_events'::regclass ORDER BY conname`.execute(db);
  return [...columns.rows, ...indexes.rows, ...constraints.rows];
}

/** A log of the old release: five entries, the last one deleted (ids are never reused). */
async function oldLog(db: Kysely<DB>) {
  await appendAsHexText(db, [entry(1, 'acc-1'), entry(2), entry(3), entry(4, 'acc-2'), entry(5)]);
  await db.deleteFrom('audit_events').where('id', '=', 5).execute();
  return storedHashes(db);
}

const hex = (bytes: unknown) => Buffer.from(bytes as Uint8Array).toString('hex');

describe('audit hashes stored as bytes (migration 20261201-0019-audit-hashes)', () => {
  it('keeps every hash, the chain verifies, and a new entry chains onto the last old one', async () => {
    const database = await legacyDatabase();
    const db = database.db;
    const before = await oldLog(db);
    expect(before.map((r) => r.id)).toEqual([1, 2, 3, 4]);
    expect(before[0]?.prev_hash).toBe(GENESIS_HASH);
    const shape = await definition(db);

    // Later migrations run after it.
    expect((await migrateToLatest(db))[0]).toBe(MIGRATION);

    // Stored as 32 bytes each, read back as the same lower-case hex.
    const stored = await storedHashes(db);
    for (const row of stored) {
      expect(Buffer.isBuffer(row.hash) && row.hash.length).toBe(32);
      expect(Buffer.isBuffer(row.prev_hash) && row.prev_hash.length).toBe(32);
    }
    expect(stored.map((r) => ({ id: r.id, prev_hash: hex(r.prev_hash), hash: hex(r.hash) }))).toEqual(before);
    expect(
      (await listAuditEvents(db)).map((r) => ({ id: r.id, prev_hash: r.prev_hash, hash: r.hash })),
    ).toEqual(before);
    const chain = await verifyAuditChain(db);
    expect(chain).toMatchObject({ checked: 4, complete: true, lastId: 4, lastHash: before[3]?.hash });
    expect(chain.broken).toBeUndefined();

    // Appended by the application after the migration: chained onto the last old entry, with
    // the next id after the deleted one.
    await new AuditLog(database).append([entry(6, 'acc-1')]);
    const [added] = await listAuditEvents(db, { accountId: 'acc-1' }).then((rows) => rows.slice(-1));
    expect(added).toMatchObject({ id: 6, prev_hash: before[3]?.hash });
    expect(added?.hash).toMatch(/^[0-9a-f]{64}$/);
    const grown = await verifyAuditChain(db);
    expect(grown).toMatchObject({ checked: 5, complete: true, lastId: 6, lastHash: added?.hash });
    expect(grown.broken).toBeUndefined();

    // Every index but the one that kept hashes unique is back as it was.
    const after = await definition(db);
    const unique = (row: unknown) => JSON.stringify(row).match(/sqlite_autoindex|hash_key/) !== null;
    const withoutTable = (rows: unknown[]) =>
      rows.filter((r) => !JSON.stringify(r).match(/"type":"table"|"column_name"|"data_type"/));
    expect(withoutTable(after)).toEqual(withoutTable(shape).filter((r) => !unique(r)));
    // SQLite's autoindex; PostgreSQL's constraint and its index.
    expect(withoutTable(shape).filter(unique)).toHaveLength(testEngine === 'sqlite' ? 1 : 2);
  });

  it('migrated down, stores the same hashes as hex text, unique again; and up again', async () => {
    const database = await legacyDatabase();
    const db = database.db;
    const before = await oldLog(db);
    const shape = await definition(db);
    await migrateToLatest(db);
    await new AuditLog(database).append([entry(6)]);
    const [added] = (await listAuditEvents(db)).slice(-1);
    if (!added) throw new Error('expected the appended entry');

    expect((await createMigrator(db).migrateTo(BEFORE)).error).toBeUndefined();
    expect(await definition(db)).toEqual(shape);
    expect(await storedHashes(db)).toEqual([
      ...before,
      { id: 6, prev_hash: before[3]?.hash, hash: added.hash },
    ]);
    // The old release's unique constraint holds again (an explicit id: no sequence is used).
    await expect(
      db
        .insertInto('audit_events')
        .values({
          id: 100,
          at: '2026-12-01T00:00:00.000Z',
          actor_type: 'system',
          actor_id: 'test',
          action: 'admin.test',
          app_key: null,
          installation_id: null,
          account_id: null,
          details: '{}',
          prev_hash: added.hash as never,
          hash: added.hash as never,
        })
        .execute(),
    ).rejects.toThrow(/unique/i);

    // Later migrations run after it.
    expect((await migrateToLatest(db))[0]).toBe(MIGRATION);
    const again = await verifyAuditChain(db);
    expect(again).toMatchObject({ checked: 5, complete: true, lastId: 6, lastHash: added.hash });
    expect(again.broken).toBeUndefined();
    await new AuditLog(database).append([entry(7)]);
    expect((await listAuditEvents(db)).map((r) => r.id)).toEqual([1, 2, 3, 4, 6, 7]);
  });

  it('a byte changed in a stored hash breaks the chain', async () => {
    const database = await legacyDatabase();
    const db = database.db;
    await oldLog(db);
    await migrateToLatest(db);
    await new AuditLog(database).append([entry(6), entry(7)]);
    const flip = async (id: number, column: 'hash' | 'prev_hash') => {
      const row = await db
        .selectFrom('audit_events')
        .select(column)
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      const bytes = Buffer.from(row[column]);
      bytes[31] = (bytes[31] ?? 0) ^ 1;
      await db
        .updateTable('audit_events')
        .set({ [column]: bytes })
        .where('id', '=', id)
        .execute();
    };

    await flip(3, 'hash');
    expect((await verifyAuditChain(db)).broken).toEqual({ id: 3, problem: 'hash mismatch' });
    await flip(3, 'hash');
    expect((await verifyAuditChain(db)).broken).toBeUndefined();

    await flip(6, 'prev_hash');
    expect((await verifyAuditChain(db)).broken).toEqual({ id: 6, problem: 'prev_hash mismatch' });
    await flip(6, 'prev_hash');
    expect((await verifyAuditChain(db)).broken).toBeUndefined();
  });

  it('refuses a stored hash that is not 64 lower-case hex digits, and changes nothing', async () => {
    const database = await legacyDatabase();
    const db = database.db;
    const before = await oldLog(db);
    const upper = String(before[1]?.hash).toUpperCase();
    await db
      .updateTable('audit_events')
      .set({ hash: upper as never })
      .where('id', '=', 2)
      .execute();
    const { error } = await createMigrator(db).migrateToLatest();
    expect(String(error)).toContain('entry 2 holds a hash that is not 64 lower-case hex digits');
    const pending = (await createMigrator(db).getMigrations()).filter((m) => m.executedAt === undefined);
    expect(pending.map((m) => m.name)[0]).toBe(MIGRATION);
    expect((await storedHashes(db))[1]).toEqual({ ...before[1], hash: upper });
  });
});
