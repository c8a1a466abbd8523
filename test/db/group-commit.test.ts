import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Database, isRowError, openDatabase } from '../../src/db/dialect.js';
import { GroupCommit } from '../../src/db/group-commit.js';
import type { DB } from '../../src/db/schema.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

/**
 * The group commit writes every waiting row in one transaction. A row the engine refuses
 * must fail only its own caller: here a row without a label breaks the NOT NULL constraint
 * of a scratch table, which both engines refuse.
 */
interface Row {
  id: number;
  label: string | null;
}

let testDb: TestDatabase;
let database: Database;
let writes: number[][];

async function insertRows(trx: Kysely<DB>, rows: Row[]): Promise<void> {
  writes.push(rows.map((r) => r.id));
  const values = rows.map((r) => sql`(${r.id}, ${r.label})`);
  await sql`insert into group_commit_rows (id, label) values ${sql.join(values)}`.execute(trx);
}

async function storedIds(): Promise<number[]> {
  const { rows } = await sql<{ id: number }>`select id from group_commit_rows order by seq`.execute(
    database.db,
  );
  return rows.map((r) => Number(r.id));
}

const settle = (promises: Promise<void>[]) => Promise.allSettled(promises);
const rows = (n: number, bad: number[] = []): Row[] =>
  Array.from({ length: n }, (_, id) => ({ id, label: bad.includes(id) ? null : `row ${id}` }));

beforeAll(async () => {
  testDb = await createTestDatabase();
  database = openDatabase(testDb.url);
  const seq =
    database.engine === 'postgres' ? sql`bigserial primary key` : sql`integer primary key autoincrement`;
  await sql`create table group_commit_rows (seq ${seq}, id integer not null, label text not null)`.execute(
    database.db,
  );
});
afterAll(async () => {
  await database.close();
  await testDb.drop();
});
beforeEach(async () => {
  writes = [];
  await sql`delete from group_commit_rows`.execute(database.db);
});

describe('GroupCommit', () => {
  it('writes rows that arrive together in one transaction', async () => {
    const commit = new GroupCommit(database, insertRows);
    await Promise.all(rows(40).map((r) => commit.enqueue(r)));
    expect(writes).toHaveLength(1);
    expect(await storedIds()).toEqual(rows(40).map((r) => r.id));
  });

  it('fails only the rows the engine refuses; every other row commits, in arrival order', async () => {
    let committed = 0;
    const commit = new GroupCommit(database, insertRows, () => {
      committed += 1;
    });
    const batch = rows(64, [5, 40, 41]);
    const results = await settle(batch.map((r) => commit.enqueue(r)));
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [i] : []));
    expect(failed).toEqual([5, 40, 41]);
    for (const r of results) if (r.status === 'rejected') expect(isRowError(r.reason)).toBe(true);
    expect(await storedIds()).toEqual(batch.filter((r) => r.label !== null).map((r) => r.id));
    // The first attempt held the whole batch; halving costs far fewer than one transaction per row.
    expect(writes[0]).toHaveLength(64);
    expect(writes.length).toBeLessThan(40);
    expect(committed).toBe(1);
  });

  it('a text PostgreSQL cannot store (U+0000) fails only its own row there; SQLite stores it', async () => {
    const commit = new GroupCommit(database, insertRows);
    const batch = rows(30).map((r) => (r.id % 11 === 0 ? { ...r, label: `bad\u0000${r.id}` } : r));
    const results = await settle(batch.map((r) => commit.enqueue(r)));
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [i] : []));
    expect(failed).toEqual(database.engine === 'postgres' ? [0, 11, 22] : []);
    expect(await storedIds()).toHaveLength(30 - failed.length);
  });

  it('fails a lone bad row without retrying it', async () => {
    const commit = new GroupCommit(database, insertRows);
    await expect(commit.enqueue({ id: 1, label: null })).rejects.toSatisfy(isRowError);
    expect(writes).toEqual([[1]]);
  });

  it('fails the whole batch at once when the failure is not a row the engine refused', async () => {
    const lost = new Error('Connection terminated unexpectedly');
    const commit = new GroupCommit<Row>(database, async (trx, batch) => {
      await insertRows(trx, batch);
      throw lost;
    });
    const results = await settle(rows(10).map((r) => commit.enqueue(r)));
    expect(results.every((r) => r.status === 'rejected' && r.reason === lost)).toBe(true);
    expect(writes).toHaveLength(1);
    expect(await storedIds()).toEqual([]);
  });

  it('keeps committing later batches after a failed one', async () => {
    const commit = new GroupCommit(database, insertRows);
    await settle(rows(8, [3]).map((r) => commit.enqueue(r)));
    await commit.enqueue({ id: 100, label: 'later' });
    await commit.drain();
    expect(await storedIds()).toEqual([0, 1, 2, 4, 5, 6, 7, 100]);
  });
});
