import { open } from 'node:fs/promises';
import { type AddressInfo, connect, createServer, Socket } from 'node:net';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import SQLite from 'better-sqlite3';
import { type Kysely, type SelectQueryBuilder, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  compiledInsert,
  compiledQuery,
  compiledQueryPerShape,
  insertPart,
  insertTogether,
  preparedName,
} from '../../src/db/compiled.js';
import {
  type Database,
  DatabaseBusyError,
  engineOf,
  isRowError,
  isUniqueViolation,
  openDatabase,
  queryByName,
  sqlitePath,
} from '../../src/db/dialect.js';
import type { DB } from '../../src/db/schema.js';
import { createTestDatabase, type TestDatabase, testEngine } from '../helpers/database.js';
import { deferred } from '../helpers/wait.js';

/**
 * src/db/dialect.ts on its own, on scratch tables: each test states the guarantee the rest
 * of Custos relies on and shows it on the engine under test. Where the engines reach a
 * guarantee differently (SQLite's single writer, PostgreSQL's row and advisory locks), the
 * test asserts the observable difference too, so neither engine passes by doing nothing.
 */

interface Scratch {
  claims: { id: number; worker: string | null };
}

let testDb: TestDatabase;
let database: Database;

const exec = (query: ReturnType<typeof sql>, db: Kysely<DB> = database.db) => query.execute(db);

beforeAll(async () => {
  testDb = await createTestDatabase();
  database = openDatabase(testDb.url);
  for (const ddl of [
    sql`create table dialect_rows (id integer primary key, label text not null)`,
    sql`create table claims (id integer primary key, worker text)`,
    sql`create table people (id integer primary key, email text not null)`,
    sql`create unique index people_email_uq on people (email)`,
    sql`create table badges (id integer primary key, person_id integer not null references people (id))`,
    sql`create table chain (n integer not null)`,
  ])
    await exec(ddl);
});
afterAll(async () => {
  await database.close();
  await testDb.drop();
});

async function labels(db: Kysely<DB> = database.db): Promise<string[]> {
  const { rows } = await sql<{ label: string }>`select label from dialect_rows order by id`.execute(db);
  return rows.map((r) => r.label);
}

describe('engineOf and sqlitePath', () => {
  it('tell the engine from the URL scheme, refusing any other', () => {
    expect(engineOf('sqlite:./data/custos.db')).toBe('sqlite');
    expect(engineOf('sqlite::memory:')).toBe('sqlite');
    expect(engineOf('postgres://custos@db:5432/custos')).toBe('postgres');
    expect(engineOf('postgresql://custos@db/custos')).toBe('postgres');
    for (const url of ['mysql://db/custos', 'postgres:custos', 'POSTGRES://db/custos', './custos.db', ''])
      expect(() => engineOf(url), url).toThrow('DATABASE_URL must start with sqlite: or postgres://');
  });

  it('read a relative, an absolute and an in-memory SQLite path, and refuse an empty one', () => {
    expect(sqlitePath('sqlite:./data/custos.db')).toBe(resolve('data/custos.db'));
    expect(sqlitePath('sqlite:data/custos.db')).toBe(resolve('data/custos.db'));
    expect(sqlitePath('sqlite://data/custos.db')).toBe(resolve('data/custos.db'));
    expect(sqlitePath('sqlite:/var/lib/custos/custos.db')).toBe('/var/lib/custos/custos.db');
    expect(sqlitePath('sqlite:///var/lib/custos/custos.db')).toBe('/var/lib/custos/custos.db');
    expect(sqlitePath('sqlite::memory:')).toBe(':memory:');
    expect(() => sqlitePath('sqlite:')).toThrow('DATABASE_URL sqlite: needs a file path');
    expect(() => sqlitePath('sqlite://')).toThrow('DATABASE_URL sqlite: needs a file path');
  });
});

/**
 * How durably a write transaction committed. SQLite commits with synchronous=NORMAL (no
 * flush inside the commit) and a durable transaction then flushes the WAL file (fdatasync
 * on the thread pool) before it resolves: counted here on the file handle. PostgreSQL:
 * `synchronous_commit` inside the transaction (on / off).
 */
const walFlushes: { started: number; done: number } = { started: 0, done: 0 };
let flushGate: Promise<void> | undefined;

async function watchWalFlushes(): Promise<() => void> {
  const probe = await open(resolve('package.json'), 'r');
  const prototype = Object.getPrototypeOf(probe) as { datasync(): Promise<void> };
  await probe.close();
  const original = prototype.datasync;
  prototype.datasync = async function (this: unknown) {
    walFlushes.started++;
    await flushGate;
    await original.call(this);
    walFlushes.done++;
  };
  return () => {
    prototype.datasync = original;
  };
}

async function committedDurably<T>(
  run: (probe: (trx: Kysely<DB>) => Promise<void>) => Promise<T>,
): Promise<{ result: T; durability: 'durable' | 'relaxed' }> {
  let inside: 'durable' | 'relaxed' | undefined;
  const probe = async (trx: Kysely<DB>) => {
    if (testEngine === 'sqlite') return;
    const { rows } = await sql<{ synchronous_commit: string }>`show synchronous_commit`.execute(trx);
    const setting = rows[0]?.synchronous_commit;
    expect(['on', 'off']).toContain(setting);
    inside = setting === 'on' ? 'durable' : 'relaxed';
  };
  const before = walFlushes.done;
  const result = await run(probe);
  if (testEngine === 'sqlite')
    return { result, durability: walFlushes.done > before ? 'durable' : 'relaxed' };
  if (inside === undefined) throw new Error('the probe did not run inside the transaction');
  return { result, durability: inside };
}

describe('writeTransaction({ durable: false })', () => {
  // One connection on PostgreSQL too, so that the next transaction runs on the very
  // connection the relaxed one used: a leaked setting could not hide on another.
  let single: Database;
  let unwatch: () => void;
  beforeAll(async () => {
    single = openDatabase(testDb.url, { pgPoolSize: 1 });
    unwatch = await watchWalFlushes();
  });
  afterAll(async () => {
    unwatch();
    await single.close();
  });
  beforeEach(() => exec(sql`delete from dialect_rows`));

  const insert =
    (id: number, label: string) => (probe: (trx: Kysely<DB>) => Promise<void>) => (trx: Kysely<DB>) =>
      exec(sql`insert into dialect_rows (id, label) values (${id}, ${label})`, trx).then(() => probe(trx));

  it('commits without the flush, and the next transaction is durable again', async () => {
    const relaxed = await committedDurably((probe) =>
      single.writeTransaction(insert(1, 'relaxed')(probe), { durable: false }),
    );
    expect(relaxed.durability).toBe('relaxed');
    // Committed: another connection sees the row.
    expect(await labels(database.db)).toEqual(['relaxed']);

    const durable = await committedDurably((probe) => single.writeTransaction(insert(2, 'durable')(probe)));
    expect(durable.durability).toBe('durable');
    expect(await labels(database.db)).toEqual(['relaxed', 'durable']);
  });

  it('an exclusive transaction follows the same rule, and leaves the connection as it was', async () => {
    const relaxed = await committedDurably((probe) =>
      single.exclusiveTransaction('dialect-test-durability', insert(1, 'relaxed')(probe), { durable: false }),
    );
    expect(relaxed).toEqual({ result: undefined, durability: 'relaxed' });
    const durable = await committedDurably((probe) =>
      single.exclusiveTransaction('dialect-test-durability', insert(2, 'durable')(probe)),
    );
    expect(durable.durability).toBe('durable');
    const next = await committedDurably((probe) => single.writeTransaction(insert(3, 'durable')(probe)));
    expect(next.durability).toBe('durable');
    expect(await labels(database.db)).toEqual(['relaxed', 'durable', 'durable']);
  });

  it('rolls back a failed relaxed transaction and leaves the connection durable', async () => {
    const failure = new Error('the work failed');
    await expect(
      single.writeTransaction(
        async (trx) => {
          await exec(sql`insert into dialect_rows (id, label) values (1, 'lost')`, trx);
          throw failure;
        },
        { durable: false },
      ),
    ).rejects.toBe(failure);
    expect(await labels(database.db)).toEqual([]);
    const next = await committedDurably((probe) => single.writeTransaction(insert(3, 'durable')(probe)));
    expect(next.durability).toBe('durable');
  });

  it('SQLite: a durable transaction is answered only once its WAL flush is done, and the next transaction writes meanwhile', async () => {
    let open = () => {};
    flushGate = new Promise<void>((resolve) => {
      open = resolve;
    });
    try {
      const started = walFlushes.started;
      let answered = false;
      const first = single
        .writeTransaction((trx) => exec(sql`insert into dialect_rows (id, label) values (1, 'first')`, trx))
        .then(() => {
          answered = true;
        });
      if (testEngine === 'sqlite') {
        await waitUntil(() => walFlushes.started > started);
        // Committed and visible, not yet answered: the flush is held.
        expect(await labels(database.db)).toEqual(['first']);
        expect(answered).toBe(false);
        // The connection was given back before the flush: another transaction commits now.
        await single.writeTransaction(
          (trx) => exec(sql`insert into dialect_rows (id, label) values (2, 'second')`, trx),
          { durable: false },
        );
        expect(await labels(database.db)).toEqual(['first', 'second']);
        expect(answered).toBe(false);
      }
      open();
      await first;
      expect(answered).toBe(true);
      // PostgreSQL flushes inside its commit: no file flush of ours at all.
      expect(walFlushes.started > started).toBe(testEngine === 'sqlite');
    } finally {
      open();
      flushGate = undefined;
    }
  });
});

async function waitUntil(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await sleep(2);
  expect(condition()).toBe(true);
}

describe('skipLocked', () => {
  // SQLite ignores it (one writer at a time); on PostgreSQL it adds FOR UPDATE SKIP LOCKED.
  function claim(trx: Kysely<DB>, size: number) {
    const query = (trx as unknown as Kysely<Scratch>)
      .selectFrom('claims')
      .select('id')
      .where('worker', 'is', null)
      .orderBy('id')
      .limit(size);
    return database
      .skipLocked(query as unknown as SelectQueryBuilder<DB, keyof DB, { id: number }>)
      .execute();
  }

  async function fill(count: number) {
    await exec(sql`delete from claims`);
    const values = Array.from({ length: count }, (_, i) => sql`(${i + 1}, null)`);
    await exec(sql`insert into claims (id, worker) values ${sql.join(values)}`);
  }

  async function markClaimed(trx: Kysely<DB>, ids: number[], worker: string) {
    if (ids.length > 0)
      await exec(sql`update claims set worker = ${worker} where id in (${sql.join(ids)})`, trx);
  }

  it('two workers claiming at once never get the same row: side by side on PostgreSQL, one after the other on SQLite', async () => {
    await fill(20);
    // Give the pool two connections before timing anything.
    await Promise.all([exec(sql`select 1`), exec(sql`select 1`)]);
    const holdMs = 1000;
    const worker = (name: string) =>
      database.writeTransaction(async (trx) => {
        const ids = (await claim(trx, 5)).map((r) => Number(r.id));
        const claimedAt = performance.now();
        // Hold the claim, uncommitted, while the other worker claims.
        await sleep(holdMs);
        await markClaimed(trx, ids, name);
        return { name, ids, claimedAt, doneAt: performance.now() };
      });
    const [a, b] = await Promise.all([worker('a'), worker('b')]);

    // Between them they took the ten oldest rows, none twice. Told apart by the rows, not by
    // when each worker's code resumed: on PostgreSQL both claims finish at about the same
    // moment, and the event loop may resume them in either order.
    const [first, second] = a.ids[0] === 1 ? [a, b] : [b, a];
    expect(first.ids).toHaveLength(5);
    expect(second.ids).toHaveLength(5);
    expect([...first.ids, ...second.ids].sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    if (testEngine === 'postgres') {
      // Two claims running at the same instant lock rows in turn, each skipping the other's,
      // so each may hold a mix of the ten (seen: one took 1 and 7 to 10).
      // The second claimed while the first still held its rows: it skipped them, not waited.
      expect(second.claimedAt).toBeLessThan(first.doneAt);
    } else {
      // The single writer: the second transaction began after the first had finished, and
      // found the first five taken.
      expect(first.ids).toEqual([1, 2, 3, 4, 5]);
      expect(second.claimedAt).toBeGreaterThanOrEqual(first.doneAt);
    }
  });

  it('two workers draining a queue claim every row exactly once', async () => {
    await fill(40);
    const drain = async (name: string) => {
      const claimed: number[] = [];
      for (;;) {
        const ids = await database.writeTransaction(async (trx) => {
          const batch = (await claim(trx, 3)).map((r) => Number(r.id));
          await sleep(5);
          await markClaimed(trx, batch, name);
          return batch;
        });
        if (ids.length === 0) return claimed;
        claimed.push(...ids);
      }
    };
    const [a, b] = await Promise.all([drain('a'), drain('b')]);
    expect([...a, ...b].sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const { rows } = await sql<{ worker: string | null }>`select worker from claims order by id`.execute(
      database.db,
    );
    const owners = new Map([...a.map((id) => [id, 'a'] as const), ...b.map((id) => [id, 'b'] as const)]);
    expect(rows.map((r) => r.worker)).toEqual(Array.from({ length: 40 }, (_, i) => owners.get(i + 1)));
  });
});

describe('isUniqueViolation and isRowError', () => {
  beforeAll(async () => {
    await exec(sql`insert into people (id, email) values (1, 'ada@example.org')`);
  });

  async function failure(query: ReturnType<typeof sql>): Promise<unknown> {
    try {
      await database.writeTransaction((trx) => exec(query, trx));
    } catch (error) {
      return error;
    }
    throw new Error('the statement did not fail');
  }

  it('a duplicate primary key and a duplicate in a unique index are unique violations and row errors', async () => {
    for (const query of [
      sql`insert into people (id, email) values (1, 'other@example.org')`,
      sql`insert into people (id, email) values (2, 'ada@example.org')`,
    ]) {
      const error = await failure(query);
      expect(isUniqueViolation(error)).toBe(true);
      expect(isRowError(error)).toBe(true);
    }
  });

  it('another constraint is a row error but not a unique violation', async () => {
    for (const query of [
      sql`insert into people (id, email) values (3, null)`,
      sql`insert into badges (id, person_id) values (1, 999)`,
    ]) {
      const error = await failure(query);
      expect(isUniqueViolation(error)).toBe(false);
      expect(isRowError(error)).toBe(true);
    }
  });

  it('an error that is not about a row is neither', async () => {
    const errors = [
      await failure(sql`insert into no_such_table (id) values (1)`),
      await failure(sql`select from where`),
      new DatabaseBusyError(),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      new Error('no code'),
      { code: 23505 },
      'a string',
      null,
      undefined,
    ];
    for (const error of errors) {
      expect(isUniqueViolation(error), String(error)).toBe(false);
      expect(isRowError(error), String(error)).toBe(false);
    }
  });
});

describe('the connection queue', () => {
  beforeEach(() => exec(sql`delete from dialect_rows`));

  it('SQLite hands the one connection out in arrival order; a PostgreSQL pool answers every query', async () => {
    const done: string[] = [];
    const count = () =>
      sql<{ n: number }>`select count(*) as n from dialect_rows`
        .execute(database.db)
        .then((r) => Number(r.rows[0]?.n));
    const queries = (from: number) =>
      Array.from({ length: 20 }, (_, i) =>
        count().then((n) => {
          done.push(`q${from + i}`);
          return n;
        }),
      );
    const before = queries(0);
    // A transaction that keeps the connection across an await: on SQLite every query issued
    // after it waits for its commit and none runs inside it.
    const transaction = database
      .writeTransaction(async (trx) => {
        await exec(sql`insert into dialect_rows (id, label) values (1, 'one')`, trx);
        await sleep(100);
        await exec(sql`insert into dialect_rows (id, label) values (2, 'two')`, trx);
      })
      .then(() => done.push('transaction'));
    const after = queries(20);
    const [seenBefore, seenAfter] = await Promise.all([Promise.all(before), Promise.all(after), transaction]);

    expect([...done].sort()).toEqual(
      ['transaction', ...Array.from({ length: 40 }, (_, i) => `q${i}`)].sort(),
    );
    if (testEngine === 'sqlite') {
      // In arrival order; the transaction is answered after its commit and the WAL flush
      // that follows, which the later queries do not wait for.
      expect(done.filter((d) => d !== 'transaction')).toEqual(Array.from({ length: 40 }, (_, i) => `q${i}`));
      expect(done.indexOf('transaction')).toBeGreaterThan(done.indexOf('q19'));
      expect(seenBefore).toEqual(Array(20).fill(0));
      expect(seenAfter).toEqual(Array(20).fill(2));
    } else {
      // Other connections: they see the transaction's rows all or not at all, never half.
      for (const n of [...seenBefore, ...seenAfter]) expect([0, 2]).toContain(n);
    }
  });

  it('runs more queries than connections, each answered with its own result', async () => {
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        sql<{ n: number }>`select ${i} as n`.execute(database.db).then((r) => Number(r.rows[0]?.n)),
      ),
    );
    expect(results).toEqual(Array.from({ length: 60 }, (_, i) => i));
  });
});

/**
 * Another connection (in this process, but to the database like any other process) takes
 * the write lock: SQLite's BEGIN IMMEDIATE; on PostgreSQL, which has no database-wide writer
 * lock, a lock on the table that lets readers through and makes inserts wait.
 */
async function holdWriteLock(): Promise<{ release: () => Promise<void> }> {
  if (testEngine === 'sqlite') {
    const other = new SQLite(sqlitePath(testDb.url));
    other.exec('begin immediate');
    return {
      release: async () => {
        other.exec('commit');
        other.close();
      },
    };
  }
  const other = new pg.Client({ connectionString: testDb.url });
  await other.connect();
  await other.query('begin');
  await other.query('lock table dialect_rows in share row exclusive mode');
  return {
    release: async () => {
      await other.query('commit');
      await other.end();
    },
  };
}

/** Counts timer ticks while `work` runs: a blocked event loop would count next to none. */
async function ticksDuring<T>(work: Promise<T>): Promise<{ result: T; ticks: number }> {
  let ticks = 0;
  const timer = setInterval(() => {
    ticks++;
  }, 20);
  try {
    return { result: await work, ticks };
  } finally {
    clearInterval(timer);
  }
}

describe('a write transaction meeting another connection holding the write lock', () => {
  beforeEach(() => exec(sql`delete from dialect_rows`));

  it('waits without blocking the event loop, serves reads meanwhile, and succeeds once the lock is free', async () => {
    const holdMs = 1500;
    const holder = await holdWriteLock();
    const lockedAt = performance.now();
    // The lock is released by a timer: were the event loop blocked, it could not fire.
    const released = sleep(holdMs).then(() => holder.release());
    let written = false;
    const write = database.writeTransaction(async (trx) => {
      await exec(sql`insert into dialect_rows (id, label) values (1, 'waited')`, trx);
      written = true;
      return performance.now();
    });
    // A read issued after the waiting write is answered before it.
    expect(await labels()).toEqual([]);
    expect(written).toBe(false);
    const { result: wroteAt, ticks } = await ticksDuring(write);
    await released;

    expect(wroteAt - lockedAt).toBeGreaterThan(holdMs - 200);
    expect(ticks).toBeGreaterThan(10);
    expect(await labels()).toEqual(['waited']);
  });

  it('a write statement outside a transaction waits too, lending the connection to reads meanwhile', async () => {
    const holdMs = 1500;
    const holder = await holdWriteLock();
    const released = sleep(holdMs).then(() => holder.release());
    let written = false;
    const write = exec(sql`insert into dialect_rows (id, label) values (1, 'waited')`).then(() => {
      written = true;
    });
    expect(await labels()).toEqual([]);
    expect(written).toBe(false);
    await write;
    await released;
    expect(await labels()).toEqual(['waited']);
  });

  it('with a short maximum wait: SQLite gives up with DatabaseBusyError and writes nothing; PostgreSQL, which queues lock waiters, waits', async () => {
    const holdMs = 1500;
    const holder = await holdWriteLock();
    const started = performance.now();
    const released = sleep(holdMs).then(() => holder.release());
    let ran = false;
    const outcome = await database
      .writeTransaction(
        async (trx) => {
          ran = true;
          await exec(sql`insert into dialect_rows (id, label) values (1, 'impatient')`, trx);
        },
        { maxWaitMs: 300, durable: false },
      )
      .then(
        () => 'written',
        (error: unknown) => error,
      );
    const waited = performance.now() - started;
    await released;
    if (testEngine === 'sqlite') {
      expect(outcome).toBeInstanceOf(DatabaseBusyError);
      expect(ran).toBe(false);
      // About the maximum wait (measured in whole milliseconds there), well before the release.
      expect(waited).toBeGreaterThan(290);
      expect(waited).toBeLessThan(holdMs);
      expect(await labels()).toEqual([]);
    } else {
      expect(outcome).toBe('written');
      expect(waited).toBeGreaterThan(holdMs - 200);
      expect(await labels()).toEqual(['impatient']);
    }
  });
});

/** Whether `promise` is still pending after `ms`. */
const stillPendingAfter = (promise: Promise<unknown>, ms: number) =>
  Promise.race([promise.then(() => false), sleep(ms).then(() => true)]);

/** The scratch chain's links, in order. */
async function chain(): Promise<number[]> {
  const { rows } = await sql<{ n: number }>`select n from chain order by n`.execute(database.db);
  return rows.map((r) => Number(r.n));
}

describe('serializedTransaction', () => {
  beforeEach(() => exec(sql`delete from chain`));

  /** Reads the chain's last link, pauses, appends the next: a race unless serialized. */
  async function appendLink(trx: Kysely<DB>): Promise<{ n: number; start: number; end: number }> {
    const start = performance.now();
    const { rows } = await sql<{ last: number | null }>`select max(n) as last from chain`.execute(trx);
    const n = Number(rows[0]?.last ?? 0) + 1;
    await sleep(500);
    await exec(sql`insert into chain (n) values (${n})`, trx);
    return { n, start, end: performance.now() };
  }

  const overlap = (a: { start: number; end: number }, b: { start: number; end: number }) =>
    a.start < b.end && b.start < a.end;

  it('runs two callers naming the same lock one after the other', async () => {
    const [a, b] = await Promise.all([
      database.serializedTransaction('dialect-test-chain', appendLink),
      database.serializedTransaction('dialect-test-chain', appendLink),
    ]);
    expect([a.n, b.n].sort()).toEqual([1, 2]);
    expect(overlap(a, b)).toBe(false);
    expect(await chain()).toEqual([1, 2]);
  });

  it('advisoryLock inside a write transaction takes the same lock', async () => {
    const [a, b] = await Promise.all([
      database.serializedTransaction('dialect-test-chain', appendLink),
      database.writeTransaction(async (trx) => {
        await database.advisoryLock(trx, 'dialect-test-chain');
        return appendLink(trx);
      }),
    ]);
    expect([a.n, b.n].sort()).toEqual([1, 2]);
    expect(overlap(a, b)).toBe(false);
  });

  it('other lock names: side by side on PostgreSQL, one after the other on SQLite (one writer)', async () => {
    const [a, b] = await Promise.all([
      database.serializedTransaction('dialect-test-one', appendLink),
      database.serializedTransaction('dialect-test-two', appendLink),
    ]);
    if (testEngine === 'postgres') {
      expect(overlap(a, b)).toBe(true);
      // Both read an empty chain: nothing orders callers of different locks.
      expect([a.n, b.n]).toEqual([1, 1]);
    } else {
      expect(overlap(a, b)).toBe(false);
      expect([a.n, b.n].sort()).toEqual([1, 2]);
    }
  });
});

describe('exclusiveTransaction', () => {
  beforeEach(() => exec(sql`delete from chain`));

  /** Starts an exclusive transaction that appends `n` once released; resolves `held` inside. */
  function holdTurn(lock: string, n: number) {
    const released = deferred();
    const held = deferred();
    const done = database.exclusiveTransaction(lock, async (trx) => {
      held.resolve();
      await released.promise;
      await exec(sql`insert into chain (n) values (${n})`, trx);
      return n;
    });
    return { held: held.promise, release: released.resolve, done };
  }

  /** A second caller naming `lock`, appending 2. */
  const appendTwo = (lock: string, options?: { wait: boolean }) =>
    database.exclusiveTransaction(
      lock,
      async (trx) => {
        await exec(sql`insert into chain (n) values (2)`, trx);
        return 2;
      },
      options,
    );

  /** The second caller waits while the first holds the lock, and runs once it has ended. */
  async function waitsThenRuns(first: ReturnType<typeof holdTurn>, second: Promise<number | undefined>) {
    expect(await stillPendingAfter(second, 500)).toBe(true);
    first.release();
    expect(await first.done).toBe(1);
    expect(await second).toBe(2);
    expect(await chain()).toEqual([1, 2]);
  }

  it('PostgreSQL: a second caller naming the lock gets undefined at once; SQLite: its turn after', async () => {
    const first = holdTurn('dialect-test-turn', 1);
    await first.held;
    const second = appendTwo('dialect-test-turn');
    if (testEngine === 'postgres') {
      // Answered while the first still holds the lock.
      expect(await second).toBeUndefined();
      first.release();
      expect(await first.done).toBe(1);
      expect(await chain()).toEqual([1]);
      // The lock ended with the transaction: the next caller runs.
      expect(await database.exclusiveTransaction('dialect-test-turn', async () => 3)).toBe(3);
    } else {
      await waitsThenRuns(first, second);
    }
  });

  it('with wait, a second caller waits for the first to end, then runs', async () => {
    const first = holdTurn('dialect-test-wait', 1);
    await first.held;
    await waitsThenRuns(first, appendTwo('dialect-test-wait', { wait: true }));
  });

  it('other lock names do not exclude each other', async () => {
    const first = holdTurn('dialect-test-turn-a', 1);
    await first.held;
    const other = database.exclusiveTransaction('dialect-test-turn-b', async () => 'ran');
    if (testEngine === 'postgres') {
      expect(await other).toBe('ran');
      first.release();
    } else {
      // SQLite's one writer: the other name waits for the write lock, not for the name.
      first.release();
      expect(await other).toBe('ran');
    }
    expect(await first.done).toBe(1);
  });

  it('a transaction that fails gives the lock back; on PostgreSQL also when the server ends its connection', async () => {
    const failure = new Error('the work failed');
    await expect(
      database.exclusiveTransaction('dialect-test-ended', async () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await database.exclusiveTransaction('dialect-test-ended', async () => 'next')).toBe('next');
    if (testEngine !== 'postgres') return;

    // The server closes the connection of a transaction left idle for a minute; ended here by
    // hand, in the same state: no statement running. An unhandled error on the pooled client
    // would end the test process.
    const single = openDatabase(testDb.url, { pgPoolSize: 1 });
    const setting = async (db: Kysely<DB>) => {
      const { rows } = await sql<{
        value: string;
      }>`select current_setting('idle_in_transaction_session_timeout') as value`.execute(db);
      return rows[0]?.value;
    };
    try {
      const session = await setting(single.db);
      const ended = single.exclusiveTransaction('dialect-test-ended', async (trx) => {
        expect(await setting(trx)).toBe('1min');
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
        await exec(sql`select pg_terminate_backend(${rows[0]?.pid})`);
        await sleep(200);
        return exec(sql`select 1`, trx);
      });
      await expect(ended).rejects.toThrow();
      // The lock went with the connection, and the pool goes on with a new one, whose
      // session keeps its own limit.
      expect(await database.exclusiveTransaction('dialect-test-ended', async () => 'next')).toBe('next');
      expect(await setting(single.db)).toBe(session);
    } finally {
      await single.close();
    }
  });
});

describe('hot queries (compiledQuery)', () => {
  type Rows = { dialect_rows: { id: number; label: string } };
  const selectLabel = (db: Kysely<Rows>) => db.selectFrom('dialect_rows').select('label').where('id', '=', 0);
  const labelOf = compiledQuery<Rows, { label: string }, [id: number]>(selectLabel);

  it('compiled for the database, run in a transaction: read on the transaction, seeing its own uncommitted writes', async () => {
    const single = openDatabase(testDb.url, { pgPoolSize: 1 });
    try {
      await exec(sql`delete from dialect_rows`, single.db);
      const scratch = single.db as unknown as Kysely<Rows>;
      // Compiled (and cached) on the database first, where the row does not exist.
      expect((await labelOf(scratch, 7)).rows).toEqual([]);
      const seen = await single.writeTransaction(async (trx) => {
        await exec(sql`insert into dialect_rows (id, label) values (7, 'seven')`, trx);
        return (await labelOf(trx as unknown as Kysely<Rows>, 7)).rows;
      });
      expect(seen).toEqual([{ label: 'seven' }]);
    } finally {
      await single.close();
    }
  });

  it('answer each call with its own parameters, in a transaction or not; on PostgreSQL prepared under their name', async () => {
    // One pooled connection, so the catalogue query in the transaction sees its statements.
    const single = openDatabase(testDb.url, { pgPoolSize: 1 });
    try {
      await exec(sql`delete from dialect_rows`, single.db);
      await exec(sql`insert into dialect_rows (id, label) values (1, 'one'), (2, 'two')`, single.db);
      const scratch = single.db as unknown as Kysely<Rows>;
      const labels: string[][] = [];
      for (const id of [1, 2, 3, 1]) labels.push((await labelOf(scratch, id)).rows.map((r) => r.label));
      expect(labels).toEqual([['one'], ['two'], [], ['one']]);
      const text = selectLabel(scratch).compile().sql;
      const name = preparedName(text);
      expect(name).toMatch(/^custos_hot_\d+$/);
      const inTransaction = await single.writeTransaction(async (trx) => {
        const rows = (await labelOf(trx as unknown as Kysely<Rows>, 2)).rows;
        const prepared =
          testEngine === 'postgres'
            ? (
                await sql<{
                  name: string;
                  statement: string;
                }>`select name, statement from pg_prepared_statements`.execute(trx)
              ).rows
            : [];
        return { rows, prepared };
      });
      expect(inTransaction.rows).toEqual([{ label: 'two' }]);
      if (testEngine === 'postgres') {
        // The hot query, and no other: ordinary queries stay unnamed.
        expect(inTransaction.prepared).toEqual([{ name, statement: text }]);
      } else {
        // SQLite: better-sqlite3 keeps prepared statements in the process (withStatementCache); the name is unused.
        expect(inTransaction.prepared).toEqual([]);
        expect(text).toContain('?');
      }
    } finally {
      await single.close();
    }
  });

  it('outside a transaction: on a connection of their own (PostgreSQL: pipelined beside the pool; SQLite: read-only beside the writer), so they answer while a transaction holds the writer, with the committed state', async () => {
    const single = openDatabase(testDb.url, { pgPoolSize: 1 });
    try {
      await exec(sql`delete from dialect_rows`, single.db);
      await exec(sql`insert into dialect_rows (id, label) values (1, 'one')`, single.db);
      const scratch = single.db as unknown as Kysely<Rows>;
      const order: string[] = [];
      let read: Promise<string[]> | undefined;
      await single.writeTransaction(async (trx) => {
        await exec(sql`update dialect_rows set label = 'uno' where id = 1`, trx);
        read = labelOf(scratch, 1).then((r) => {
          order.push('read');
          return r.rows.map((row) => row.label);
        });
        await sleep(200);
        order.push('commit');
      });
      const seen = await read;
      // Without its own connection, SQLite's read would wait for the commit and PostgreSQL's
      // for the pool's one connection; another connection does not see the change before its commit.
      expect(order).toEqual(['read', 'commit']);
      expect(seen).toEqual(['one']);
      expect((await labelOf(scratch, 1)).rows).toEqual([{ label: 'uno' }]);
    } finally {
      await single.close();
    }
  });

  it('outside a transaction: see every write of this process at once, also one made while other reads were under way (SQLite: the reads of a loop iteration share one snapshot)', async () => {
    await exec(sql`delete from dialect_rows`);
    await exec(sql`insert into dialect_rows (id, label) values (1, 'v0')`);
    const scratch = database.db as unknown as Kysely<Rows>;
    const label = async () => (await labelOf(scratch, 1)).rows.map((row) => row.label);
    await new Promise((resolve) => setImmediate(resolve));

    // All in one iteration (no I/O: a relaxed commit is not flushed), which the check below proves.
    let turnOver = false;
    setImmediate(() => {
      turnOver = true;
    });
    expect(await label()).toEqual(['v0']);
    const rename = (trx: Kysely<DB>) => exec(sql`update dialect_rows set label = 'v1' where id = 1`, trx);
    await database.writeTransaction(rename, { durable: false });
    expect(await label()).toEqual(['v1']);
    // A write outside a transaction, while another request reads a few microtasks later:
    // whenever that read opens a snapshot, the writer's own read afterwards sees its write.
    for (let depth = 0; depth < 6; depth++) {
      const value = `v${depth + 2}`;
      const write = exec(sql`update dialect_rows set label = ${value} where id = 1`);
      let meanwhile: Promise<unknown> = Promise.resolve();
      for (let i = 0; i < depth; i++) meanwhile = meanwhile.then(() => undefined);
      const otherRead = meanwhile.then(label);
      await write;
      expect(await label()).toEqual([value]);
      await otherRead;
    }
    expect(turnOver).toBe(testEngine === 'postgres');
  });

  it("outside a transaction: see another connection's commit once the next I/O is polled, also after a read from a timer (as the worker's polls are)", async () => {
    await exec(sql`delete from dialect_rows`);
    await exec(sql`insert into dialect_rows (id, label) values (1, 'one')`);
    const scratch = database.db as unknown as Kysely<Rows>;
    const label = async () => (await labelOf(scratch, 1)).rows.map((row) => row.label);
    // Another process: it commits, then sends a request over a socket.
    const sqliteOther = testEngine === 'sqlite' ? new SQLite(sqlitePath(testDb.url)) : undefined;
    const pgOther = sqliteOther ? undefined : new pg.Client({ connectionString: testDb.url });
    await pgOther?.connect();
    const commitElsewhere = async (value: string) => {
      const update = 'update dialect_rows set label = $value where id = 1';
      if (sqliteOther) sqliteOther.prepare(update.replace('$value', '@value')).run({ value });
      else await pgOther?.query(update.replace('$value', '$1'), [value]);
    };
    const server = createServer();
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
    const served = await accepted;
    try {
      // A read from a timer or an immediate (the worker's polls read from timers), another
      // connection's commit, then its request: answered in the loop's next poll, it sees the commit.
      for (const [value, schedule] of [
        ['two', (step: () => void) => setTimeout(step, 5)],
        ['three', (step: () => void) => setImmediate(step)],
      ] as const) {
        const seen = new Promise<string[]>((resolve) => served.once('data', () => resolve(label())));
        schedule(() => {
          void label();
          void commitElsewhere(value).then(() => client.write('x'));
        });
        expect(await seen).toEqual([value]);
      }
      // A read in the poll phase, another in the check phase after the first's end has run:
      // once the loop has gone round without reads, this process holds no snapshot that
      // would keep a checkpoint from emptying the log.
      const readTwice = new Promise<void>((resolve) =>
        served.once('data', () => {
          void label();
          setImmediate(() => {
            void label();
            resolve();
          });
        }),
      );
      client.write('x');
      await readTwice;
      for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
      const checkpoint = sqliteOther?.pragma('wal_checkpoint(TRUNCATE)');
      if (sqliteOther) expect(checkpoint).toEqual([{ busy: 0, log: 0, checkpointed: 0 }]);
    } finally {
      client.destroy();
      server.close();
      sqliteOther?.close();
      await pgOther?.end();
    }
  });

  it('outside a transaction, issued together (PostgreSQL: in one write): each answers its own, in any order of issue; one failing amid them fails alone, the others answered; one issued alone is still sent', async () => {
    await exec(sql`delete from dialect_rows`);
    await exec(sql`insert into dialect_rows (id, label) values (1, 'one'), (2, 'two'), (3, 'three')`);
    const scratch = database.db as unknown as Kysely<Rows>;
    const labels = (id: number) => labelOf(scratch, id).then((r) => r.rows.map((row) => row.label));
    const ids = [3, 1, 2, 4, 2, 1, 3];
    // The hot connection opened and the statement prepared, so that only the queries write below.
    expect(await labels(1)).toEqual(['one']);
    // Writes to the database server's port, counted while the queries are out.
    const port = testEngine === 'postgres' ? Number(new URL(testDb.url).port || 5432) : undefined;
    let writes = 0;
    const socket = Socket.prototype as unknown as Record<
      '_write' | '_writev',
      (...args: unknown[]) => unknown
    >;
    const original = { _write: socket._write, _writev: socket._writev };
    for (const name of ['_write', '_writev'] as const) {
      socket[name] = function (this: Socket, ...args: unknown[]) {
        // Only on PostgreSQL: a pipe (stdout, say) has no remote port either.
        if (port !== undefined && this.remotePort === port) writes += 1;
        return original[name].apply(this, args);
      };
    }
    // One id no integer parses from: PostgreSQL refuses that query; SQLite compares and finds no row.
    const refuse = () =>
      labelOf(scratch, 'x' as unknown as number).then(
        (result) => ({ rows: result.rows, error: undefined }),
        (error: Error) => ({ rows: undefined, error }),
      );
    let answers: string[][];
    let refused: Awaited<ReturnType<typeof refuse>>;
    let amid: string[][];
    let writesAmid = 0;
    try {
      answers = await Promise.all(ids.map(labels));
      // Seven queries issued in one turn of the event loop: one write.
      expect(writes).toBe(testEngine === 'postgres' ? 1 : 0);
      writes = 0;
      // The refused one amid others. On PostgreSQL the server skips the reads after it in its
      // batch (up to the batch's one Sync): they are sent again, in a second write.
      const before = ids.slice(0, 3).map(labels);
      const refusing = refuse();
      const after = ids.slice(3).map(labels);
      [amid, refused] = await Promise.all([Promise.all([...before, ...after]), refusing]);
      writesAmid = writes;
    } finally {
      Object.assign(socket, original);
    }
    expect(writesAmid).toBe(testEngine === 'postgres' ? 2 : 0);
    expect(answers).toEqual([['three'], ['one'], ['two'], [], ['two'], ['one'], ['three']]);
    expect(amid).toEqual(answers);
    if (testEngine === 'postgres')
      expect(refused.error?.message).toMatch(/invalid input syntax for type integer/);
    else expect(refused).toEqual({ rows: [], error: undefined });
    // A query issued from the loop's check phase, where the batch is flushed, is still sent.
    const late = await new Promise<string[]>((resolve, reject) =>
      setImmediate(() => labels(2).then(resolve, reject)),
    );
    expect(late).toEqual(['two']);
    // And from a timer, alone.
    const timed = await new Promise<string[]>((resolve, reject) =>
      setTimeout(() => labels(1).then(resolve, reject), 5),
    );
    expect(timed).toEqual(['one']);
  });

  it('per list length (compiledQueryPerShape): one statement per shape, each prepared under its name on PostgreSQL', async () => {
    const single = openDatabase(testDb.url, { pgPoolSize: 1 });
    try {
      await exec(sql`delete from dialect_rows`, single.db);
      await exec(
        sql`insert into dialect_rows (id, label) values (1, 'one'), (2, 'two'), (3, 'three')`,
        single.db,
      );
      const scratch = single.db as unknown as Kysely<Rows>;
      const build = (db: Kysely<Rows>, n: number) =>
        db
          .selectFrom('dialect_rows')
          .select('label')
          .where(
            'id',
            'in',
            Array.from({ length: n }, () => 0),
          )
          .orderBy('id');
      const labelsOf = compiledQueryPerShape<Rows, { label: string }, [ids: number]>(build);
      const run = async (db: Kysely<Rows>, ids: number[]) =>
        (await labelsOf(db, [ids.length], ids)).rows.map((r) => r.label);
      expect(await run(scratch, [1, 3])).toEqual(['one', 'three']);
      expect(await run(scratch, [2])).toEqual(['two']);
      const names = [1, 2].map((n) => preparedName(build(scratch, n).compile().sql));
      expect(names[0]).toMatch(/^custos_hot_\d+$/);
      expect(names[1]).toMatch(/^custos_hot_\d+$/);
      expect(names[0]).not.toBe(names[1]);
      const prepared = await single.writeTransaction(async (trx) => {
        const rows = await run(trx as unknown as Kysely<Rows>, [3, 2]);
        const named =
          testEngine === 'postgres'
            ? (await sql<{ name: string }>`select name from pg_prepared_statements`.execute(trx)).rows.map(
                (r) => r.name,
              )
            : [];
        return { rows, named };
      });
      expect(prepared.rows).toEqual(['two', 'three']);
      if (testEngine === 'postgres') expect(prepared.named).toContain(names[1]);
    } finally {
      await single.close();
    }
  });

  it("read each answer's own values with every column's type, call after call; a statement whose columns changed is read afresh on a new connection", async () => {
    type Wide = { hot_wide: { id: number; label: string; n: number | null } };
    await exec(sql`create table hot_wide (id integer primary key, label text not null, n bigint)`);
    await exec(sql`insert into hot_wide (id, label, n) values (1, 'one', 10), (2, 'two', null)`);
    const everything = compiledQuery<Wide, Record<string, unknown>, [id: number]>((db) =>
      db.selectFrom('hot_wide').selectAll().where('id', '=', 0),
    );
    const read = async (db: Database, id: number) =>
      (await everything(db.db as unknown as Kysely<Wide>, id)).rows;
    const first = openDatabase(testDb.url, { pgPoolSize: 1 });
    try {
      // The second and later answers are read with what was made for the first (PostgreSQL).
      for (let round = 0; round < 3; round++) {
        expect(await read(first, 1)).toEqual([{ id: 1, label: 'one', n: 10 }]);
        expect(await read(first, 2)).toEqual([{ id: 2, label: 'two', n: null }]);
        expect(await read(first, 3)).toEqual([]);
      }
    } finally {
      await first.close();
    }
    // Another process migrating: the same statement text now describes one column more.
    await exec(sql`alter table hot_wide add column extra text`);
    await exec(sql`update hot_wide set extra = 'more' where id = 1`);
    const second = openDatabase(testDb.url, { pgPoolSize: 1 });
    try {
      expect(await read(second, 1)).toEqual([{ id: 1, label: 'one', n: 10, extra: 'more' }]);
      expect(await read(second, 2)).toEqual([{ id: 2, label: 'two', n: null, extra: null }]);
    } finally {
      await second.close();
    }
  });
});

describe('the reads of one turn on the pipelined connection (PostgreSQL: one Sync for all)', () => {
  type Batch = { batch_rows: { id: number; label: string }; batch_writes: { id: number; label: string } };
  const labelOf = compiledQuery<Batch, { label: string }, [id: number]>((db) =>
    db.selectFrom('batch_rows').select('label').where('id', '=', 0),
  );
  // A statement no call has prepared yet: its first Parse goes out amid the batch below.
  const idOf = compiledQuery<Batch, { id: number }, [label: string]>((db) =>
    db.selectFrom('batch_rows').select('id').where('label', '=', ''),
  );
  const write = compiledInsert<Batch, Batch['batch_writes']>({ id: true, label: true }, (db, rows) =>
    db.insertInto('batch_writes').values(rows as Batch['batch_writes'][]),
  );
  const unsendable = {
    toPostgres() {
      throw new Error('cannot be sent');
    },
  };
  beforeAll(async () => {
    await exec(sql`create table batch_rows (id integer primary key, label text not null)`);
    await exec(sql`create table batch_writes (id integer primary key, label text not null)`);
    await exec(sql`insert into batch_rows (id, label) values (1, 'one'), (2, 'two')`);
  });
  const settled = <T>(promise: Promise<T>) =>
    promise.then(
      (value) => ({ value }),
      (error: Error) => ({ error: error.message }),
    );

  it('are each answered: a refused read fails alone, the reads the server skipped after it are sent again (their statements prepared again), a write among them is committed before it is answered', async () => {
    const open = openDatabase(testDb.url, { pgPoolSize: 1 });
    const db = open.db as unknown as Kysely<Batch>;
    const labels = async (id: number) => (await labelOf(db, id)).rows.map((r) => r.label);
    const ids = async (label: string) => (await idOf(db, label)).rows.map((r) => Number(r.id));
    // Syncs sent to the server while the calls are out.
    const connection = pg.Connection.prototype as unknown as { sync(): void };
    const sync = connection.sync;
    let syncs = 0;
    connection.sync = function (this: unknown) {
      syncs += 1;
      sync.call(this);
    };
    try {
      expect(await labels(1)).toEqual(['one']);
      syncs = 0;
      expect(await Promise.all([labels(2), labels(1), labels(3), labels(2)])).toEqual([
        ['two'],
        ['one'],
        [],
        ['two'],
      ]);
      // Four reads of one turn: one Sync on PostgreSQL (SQLite sends nothing).
      expect(syncs).toBe(testEngine === 'postgres' ? 1 : 0);

      // In one turn: a read the server refuses, the first call of a statement (its Parse then
      // skipped by the server), a write, a second call of that statement (bound to what the
      // server does not hold yet), a value that cannot be sent, and a good read.
      const refused = settled(labels('x' as unknown as number));
      const first = settled(ids('two'));
      // Answered only once committed: another connection sees the row by then.
      const written = settled(
        write(db, [{ id: 1, label: 'kept' }]).then(
          async () =>
            (await sql<{ label: string }>`select label from batch_writes`.execute(database.db)).rows,
        ),
      );
      const second = settled(ids('one'));
      const unsent = settled(labels(unsendable as unknown as number));
      const good = settled(labels(1));
      // And once more from the loop's check phase, in the same write, after them all.
      const next = await new Promise<ReturnType<typeof settled<number[]>>>((resolve) =>
        setImmediate(() => resolve(settled(ids('two')))),
      );
      const answers = await Promise.all([refused, first, written, second, unsent, good, next]);
      if (testEngine === 'postgres')
        expect(answers).toEqual([
          { error: expect.stringMatching(/invalid input syntax for type integer/) },
          { value: [2] },
          { value: [{ label: 'kept' }] },
          { value: [1] },
          { error: 'cannot be sent' },
          { value: ['one'] },
          { value: [2] },
        ]);
      else
        expect(answers).toEqual([
          { value: [] },
          { value: [2] },
          { value: [{ label: 'kept' }] },
          { value: [1] },
          // SQLite's driver refuses to bind the object.
          { error: expect.stringMatching(/can only bind/) },
          { value: ['one'] },
          { value: [2] },
        ]);
      // The write was committed, whatever failed beside it.
      const stored = await sql<{ label: string }>`select label from batch_writes`.execute(database.db);
      expect(stored.rows).toEqual([{ label: 'kept' }]);
      // And the connection goes on answering, a Sync a turn.
      syncs = 0;
      expect(await Promise.all([ids('one'), labels(2), ids('two')])).toEqual([[1], ['two'], [2]]);
      expect(syncs).toBe(testEngine === 'postgres' ? 1 : 0);
    } finally {
      connection.sync = sync;
      await open.close();
    }
  });

  it('issued in the turn the database is closed, are answered, and the close ends', async () => {
    const open = openDatabase(testDb.url, { pgPoolSize: 1 });
    const db = open.db as unknown as Kysely<Batch>;
    const labels = async (id: number) => (await labelOf(db, id)).rows.map((r) => r.label);
    expect(await labels(1)).toEqual(['one']);
    const reads = Promise.all([labels(2), labels(1)]);
    const closed = open.close();
    expect(await reads).toEqual([['two'], ['one']]);
    await closed;
  });
});

describe('a hot statement whose columns another process changed under an open connection', () => {
  it('is prepared again: a read outside a transaction answers with the new columns, one inside fails once and the next succeeds', async () => {
    type Moving = { hot_moving: { id: number; label: string } };
    await exec(sql`create table hot_moving (id integer primary key, label text not null)`);
    await exec(sql`insert into hot_moving (id, label) values (1, 'one'), (2, 'two')`);
    const everything = compiledQuery<Moving, Record<string, unknown>, [id: number]>((db) =>
      db.selectFrom('hot_moving').selectAll().where('id', '=', 0),
    );
    const open = openDatabase(testDb.url, { pgPoolSize: 1 });
    const outside = async (id: number) => (await everything(open.db as unknown as Kysely<Moving>, id)).rows;
    const inside = (id: number) =>
      open.writeTransaction(async (trx) => (await everything(trx as unknown as Kysely<Moving>, id)).rows);
    try {
      // Prepared (PostgreSQL: on the pipelined connection and on the pooled one), described,
      // then read without the description.
      for (let round = 0; round < 2; round++) {
        expect(await Promise.all([outside(1), outside(2)])).toEqual([
          [{ id: 1, label: 'one' }],
          [{ id: 2, label: 'two' }],
        ]);
        expect(await inside(1)).toEqual([{ id: 1, label: 'one' }]);
      }
      // Another process migrating, while this one keeps its connections.
      await exec(sql`alter table hot_moving add column extra text`);
      await exec(sql`update hot_moving set extra = 'more' where id = 1`);
      const one = { id: 1, label: 'one', extra: 'more' };
      const two = { id: 2, label: 'two', extra: null };
      // Several calls already under way when the refusal arrives are each answered.
      expect(await Promise.all([outside(1), outside(2), outside(1)])).toEqual([[one], [two], [one]]);
      for (let round = 0; round < 2; round++)
        expect(await Promise.all([outside(2), outside(1)])).toEqual([[two], [one]]);
      if (testEngine === 'postgres') {
        // In a transaction the refusal has aborted it: that one fails, the connection recovers.
        await expect(inside(1)).rejects.toMatchObject({ code: '0A000', routine: 'RevalidateCachedQuery' });
      } else {
        // SQLite prepares a statement again itself when the schema changed.
        expect(await inside(1)).toEqual([one]);
      }
      expect(await inside(1)).toEqual([one]);
      expect(await inside(2)).toEqual([two]);
    } finally {
      await open.close();
    }
  });
});

describe('queryByName (PostgreSQL)', () => {
  it('asks for the column description until a connection has it, reads every later answer whole, and fails a call with a bad value alone', async () => {
    if (testEngine !== 'postgres') {
      // SQLite statements are not sent over a wire; nothing to describe.
      expect(database.engine).toBe('sqlite');
      return;
    }
    await exec(sql`create table hot_described (id integer primary key, label text not null, n bigint)`);
    await exec(sql`insert into hot_described (id, label, n) values (1, 'one', 10), (2, 'two', null)`);
    const one = { id: 1, label: 'one', n: 10 };
    const two = { id: 2, label: 'two', n: null };
    const unsendable = {
      toPostgres() {
        throw new Error('cannot be sent');
      },
    };
    const connectCounting = async ({ binary = false } = {}) => {
      // pg reads `binary` from a client's configuration; its type declarations leave it out.
      const config: pg.ClientConfig & { binary: boolean } = {
        connectionString: testDb.url,
        pipeline: true,
        binary,
        types: {
          getTypeParser: (oid, format) => (oid === 20 ? Number : pg.types.getTypeParser(oid, format)),
        },
      };
      const client = new pg.Client(config);
      await client.connect();
      const counts = { describes: 0, descriptions: 0 };
      const connection = client.connection as unknown as { describe(message: unknown): void } & pg.Connection;
      const describe = connection.describe.bind(connection);
      connection.describe = (message) => {
        counts.describes++;
        describe(message);
      };
      connection.on('rowDescription', () => counts.descriptions++);
      return { client, counts };
    };
    const text = 'select id, label, n from hot_described where id = $1';
    const name = 'custos_test_described';
    const read = async (client: pg.Client, id: unknown) => (await queryByName(client, name, text, [id])).rows;

    const { client, counts } = await connectCounting();
    try {
      // Sent together, before any answer came back: each asks for the description.
      expect(await Promise.all([read(client, 1), read(client, 2)])).toEqual([[one], [two]]);
      expect(counts).toEqual({ describes: 2, descriptions: 2 });
      for (let round = 0; round < 3; round++) {
        expect(await Promise.all([read(client, 2), read(client, 1), read(client, 3)])).toEqual([
          [two],
          [one],
          [],
        ]);
      }
      expect(counts).toEqual({ describes: 2, descriptions: 2 });
      // A value that cannot be put on the wire fails before anything but a Sync is sent for
      // it, and one the server refuses fails at the server; sent amid good calls, each fails
      // alone and the calls around it are answered.
      const answers = await Promise.allSettled([
        read(client, 1),
        read(client, unsendable),
        read(client, 2),
        read(client, 'not a number'),
        read(client, 1),
      ]);
      expect(answers.map((a) => (a.status === 'fulfilled' ? a.value : String(a.reason)))).toEqual([
        [one],
        'Error: cannot be sent',
        [two],
        expect.stringMatching(/invalid input syntax/),
        [one],
      ]);
      expect(await Promise.all([read(client, 1), read(client, 2)])).toEqual([[one], [two]]);
      expect(counts).toEqual({ describes: 2, descriptions: 2 });
    } finally {
      await client.end();
    }

    // Another connection prepares the statement afresh and asks for its description once. Its
    // first call fails on a value that cannot be sent, before the statement was ever prepared
    // on it: the statement is prepared by the next call, not taken for prepared.
    const other = await connectCounting();
    try {
      await expect(read(other.client, unsendable)).rejects.toThrow('cannot be sent');
      expect(await read(other.client, 1)).toEqual([one]);
      expect(await read(other.client, 2)).toEqual([two]);
      expect(other.counts).toEqual({ describes: 1, descriptions: 1 });
    } finally {
      await other.client.end();
    }

    // Rows asked for in binary stay binary when the description is no longer asked for.
    const binary = await connectCounting({ binary: true });
    try {
      const narrow = 'select id, label from hot_described where id = $1';
      const readBinary = async (id: number) =>
        (await queryByName(binary.client, 'custos_test_described_binary', narrow, [id])).rows;
      for (let round = 0; round < 2; round++) {
        expect(await readBinary(1)).toEqual([{ id: 1, label: 'one' }]);
        expect(await readBinary(2)).toEqual([{ id: 2, label: 'two' }]);
      }
      expect(binary.counts).toEqual({ describes: 1, descriptions: 1 });
    } finally {
      await binary.client.end();
    }
  });
});

describe('compiledInsert', () => {
  interface Inserted {
    dialect_inserts: { id: number; label: string; note: string | null };
  }
  type Row = Inserted['dialect_inserts'];
  /** As an insert sees the row: the id and the note may be left to the table. */
  type NewRow = { id?: number; label: string; note?: string | null };
  const scratch = () => database.db as unknown as Kysely<Inserted>;
  const read = async () =>
    (await sql<Row>`select id, label, note from dialect_inserts order by id`.execute(database.db)).rows.map(
      (r) => ({ ...r, id: Number(r.id) }),
    );

  /** An id the table fills in, one after another: an identity column, or SQLite's rowid. */
  const identityId =
    testEngine === 'postgres'
      ? 'id bigint generated always as identity primary key'
      : 'id integer primary key';

  beforeAll(() =>
    exec(sql`create table dialect_inserts (id integer primary key, label text not null, note text)`),
  );
  beforeEach(() => exec(sql`delete from dialect_inserts`));

  it('writes a batch of any size in few statements, every row whole and in order, a missing value as null', async () => {
    const shapes: number[] = [];
    const insert = compiledInsert<Inserted, Row>({ id: true, label: true, note: true }, (db, rows) => {
      shapes.push(rows.length);
      return db
        .insertInto('dialect_inserts')
        .values(rows as Row[])
        .onConflict((oc) => oc.column('id').doNothing());
    });
    const rows = Array.from({ length: 301 }, (_, i) => ({
      id: i + 1,
      label: `row ${i + 1}`,
      note: i % 2 === 0 ? `note ${i + 1}` : null,
    }));
    await database.writeTransaction(async (trx) => {
      await insert(trx as unknown as Kysely<Inserted>, rows);
    });
    expect(await read()).toEqual(rows);
    // SQLite: 301 = 256 + 2 × 16 + 3 × 4 + 1, four shapes, each built once. PostgreSQL: one
    // statement for any number of rows, built from one row's.
    const built = testEngine === 'postgres' ? [1] : [256, 16, 4, 1];
    expect(shapes).toEqual(built);

    // Another transaction, and the database itself, run the shapes already built.
    const undefinedNote = { id: 400, label: 'no note' } as Row;
    await database.writeTransaction(async (trx) => {
      await insert(trx as unknown as Kysely<Inserted>, [undefinedNote]);
    });
    await insert(scratch(), rows.slice(0, 4));
    expect((await read()).find((r) => r.id === 400)).toEqual({ id: 400, label: 'no note', note: null });
    expect(await read()).toHaveLength(302);
    expect(shapes).toEqual(built);
  });

  it('numbers the rows in the order given, as the table fills in their ids', async () => {
    interface Ordered {
      dialect_ordered: { id?: number; label: string };
    }
    await exec(sql`create table dialect_ordered (${sql.raw(identityId)}, label text not null)`);
    const insert = compiledInsert<Ordered, Ordered['dialect_ordered'], 'id'>({ label: true }, (db, rows) =>
      db.insertInto('dialect_ordered').values(rows as Ordered['dialect_ordered'][]),
    );
    // Labels that sort otherwise than the list: a later row must never get an earlier id.
    const labels = Array.from({ length: 300 }, (_, i) => `${(i * 7919) % 300}`.padStart(3, '0'));
    try {
      await database.writeTransaction(async (trx) => {
        await insert(
          trx as unknown as Kysely<Ordered>,
          labels.map((label) => ({ label })),
        );
      });
      const stored = await sql<{ label: string }>`select label from dialect_ordered order by id`.execute(
        database.db,
      );
      expect(stored.rows.map((r) => r.label)).toEqual(labels);
    } finally {
      await exec(sql`drop table dialect_ordered`);
    }
  });

  it('insertTogether: writes several inserts’ rows, each in its order; on PostgreSQL in one prepared statement', async () => {
    interface Together {
      dialect_inserts: Row;
      dialect_chained: { id?: number; label: string };
    }
    await exec(sql`create table dialect_chained (${sql.raw(identityId)}, label text not null)`);
    const inserts = compiledInsert<Together, Row>({ id: true, label: true, note: true }, (db, rows) =>
      db.insertInto('dialect_inserts').values(rows as Row[]),
    );
    const chained = compiledInsert<Together, Together['dialect_chained'], 'id'>({ label: true }, (db, rows) =>
      db.insertInto('dialect_chained').values(rows as Together['dialect_chained'][]),
    );
    const labels = Array.from({ length: 120 }, (_, i) => `${(i * 37) % 120}`.padStart(3, '0'));
    const rows = labels.map((label, i) => ({ id: i + 1, label, note: i % 3 === 0 ? null : `n${i}` }));
    // One pooled connection, so the catalogue query in the transaction sees its statements.
    const single = openDatabase(testDb.url, { pgPoolSize: 1 });
    try {
      const prepared = await single.writeTransaction(async (trx) => {
        const db = trx as unknown as Kysely<Together>;
        await insertTogether(db, [
          insertPart(inserts, rows),
          insertPart(chained, []),
          insertPart(
            chained,
            labels.map((label) => ({ label })),
          ),
        ]);
        return testEngine === 'postgres'
          ? (await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(trx)).rows
          : [];
      });
      expect(await read()).toEqual(rows);
      const stored = await sql<{ label: string }>`select label from dialect_chained order by id`.execute(
        database.db,
      );
      expect(stored.rows.map((r) => r.label)).toEqual(labels);
      if (testEngine === 'postgres') {
        // The empty part is left out: one statement of two inserts, the rows its two parameters.
        expect(prepared).toHaveLength(1);
        expect(prepared[0]?.statement).toMatch(
          /^with w1 as \(insert into "dialect_inserts".*\$1::json.*\) insert into "dialect_chained".*\$2::json/s,
        );
      }
      // A failing part, first or last, fails the call and its transaction writes nothing.
      for (const duplicateFirst of [true, false]) {
        const parts = [
          insertPart(inserts, [{ id: 1, label: 'a duplicate id', note: null }]),
          insertPart(chained, [{ label: 'lost' }]),
        ];
        await expect(
          single.writeTransaction((trx) =>
            insertTogether(trx as unknown as Kysely<Together>, duplicateFirst ? parts : parts.reverse()),
          ),
        ).rejects.toThrow();
      }
      expect(await read()).toEqual(rows);
      expect((await sql`select label from dialect_chained`.execute(database.db)).rows).toHaveLength(120);
      // Two parts of one insert (which would number their rows in either order) are refused,
      // and so is an insert not made by compiledInsert, on either engine, before any write.
      const scratchDb = single.db as unknown as Kysely<Together>;
      await expect(
        insertTogether(scratchDb, [
          insertPart(chained, [{ label: 'x' }]),
          insertPart(chained, [{ label: 'y' }]),
        ]),
      ).rejects.toThrow(/same insert/);
      const plain = (async () => {}) as unknown as typeof chained;
      await expect(
        insertTogether(scratchDb, [
          insertPart(plain, [{ label: 'y' }]),
          insertPart(chained, [{ label: 'x' }]),
        ]),
      ).rejects.toThrow(/made by compiledInsert/);
      expect((await sql`select label from dialect_chained`.execute(database.db)).rows).toHaveLength(120);
    } finally {
      await single.close();
      await exec(sql`drop table dialect_chained`);
    }
  });

  it('writes text, numbers and bytes as given, whatever characters they hold', async () => {
    interface Typed {
      dialect_typed: { id: number; label: string; note: string | null; data: Uint8Array | null; n: number };
    }
    type TypedRow = Typed['dialect_typed'];
    const bytes = testEngine === 'postgres' ? 'bytea' : 'blob';
    await exec(
      sql`create table dialect_typed (id integer primary key, label text not null, note text, data ${sql.raw(bytes)}, n bigint not null)`,
    );
    const insert = compiledInsert<Typed, TypedRow>(
      { id: true, label: true, note: true, data: true, n: true },
      (db, rows) => db.insertInto('dialect_typed').values(rows as TypedRow[]),
    );
    const rows: TypedRow[] = [
      {
        id: 1,
        label: 'quotes " \' and a backslash \\ \\x00',
        note: '{"a":[1,2]}',
        data: Buffer.from([0, 1, 254, 255]),
        n: 2 ** 40,
      },
      { id: 2, label: 'Zoë 日本 😀 \n\t\u2028', note: null, data: new Uint8Array(0), n: -1 },
      { id: 3, label: '', note: '', data: null, n: 0 },
      {
        id: 2 ** 31 - 1,
        label: 'null',
        note: 'undefined',
        data: Buffer.alloc(300, 7).subarray(100, 110),
        n: 2 ** 53 - 1,
      },
    ];
    try {
      await database.writeTransaction(async (trx) => {
        await insert(trx as unknown as Kysely<Typed>, rows);
      });
      const stored =
        await sql<TypedRow>`select id, label, note, data, n from dialect_typed order by id`.execute(
          database.db,
        );
      expect(
        stored.rows.map((r) => ({
          ...r,
          id: Number(r.id),
          data: r.data === null ? null : Buffer.from(r.data),
        })),
      ).toEqual(rows.map((r) => ({ ...r, data: r.data === null ? null : Buffer.from(r.data) })));
    } finally {
      await exec(sql`drop table dialect_typed`);
    }
  });

  it('names every column of the row type, or the type checker refuses it', () => {
    const build = (db: Kysely<Inserted>, rows: Record<string, unknown>[]) =>
      db.insertInto('dialect_inserts').values(rows as Row[]);
    // @ts-expect-error `note` is left out: it would be written as null without a word.
    compiledInsert<Inserted, Row>({ id: true, label: true }, build);
    // @ts-expect-error `title` is no column of the row type.
    compiledInsert<Inserted, Row>({ id: true, label: true, note: true, title: true }, build);
    // A column the table fills itself is left out by naming it, if an insert may leave it out.
    compiledInsert<Inserted, NewRow, 'id'>({ label: true, note: true }, build);
    // @ts-expect-error `label` is required on insert: no table fills it.
    compiledInsert<Inserted, NewRow, 'label'>({ id: true, note: true }, build);
  });

  it('refuses a built insert whose parameters are not exactly the rows’ values', async () => {
    // `note` left to the table, but the build sets it itself: a parameter too many.
    const added = compiledInsert<Inserted, NewRow, 'note'>({ id: true, label: true }, (db, rows) =>
      db.insertInto('dialect_inserts').values(rows.map((r) => ({ ...r, note: 'fixed' })) as Row[]),
    );
    await expect(added(scratch(), [{ id: 1, label: 'one' }])).rejects.toThrow(
      /3 parameters for 1 rows of 2 columns/,
    );
    // As many parameters, but the build swaps two values: each would land in the other's column.
    const swapped = compiledInsert<Inserted, Row>({ id: true, label: true, note: true }, (db, rows) =>
      db
        .insertInto('dialect_inserts')
        .values(rows.map((r) => ({ id: r.label, label: r.id, note: r.note })) as unknown as Row[]),
    );
    await expect(swapped(scratch(), [{ id: 2, label: 'two', note: null }])).rejects.toThrow(
      /parameter 1 is 0\.label, not 0\.id/,
    );
    // A value wrapped in an expression: PostgreSQL's one statement (rows as JSON) would drop
    // the expression, so it refuses the build; SQLite writes the VALUES list as built.
    const wrapped = compiledInsert<Inserted, Row>({ id: true, label: true, note: true }, (db, rows) =>
      db
        .insertInto('dialect_inserts')
        .values(rows.map((r) => ({ ...r, label: sql<string>`upper(${r.label})` })) as unknown as Row[]),
    );
    const writing = wrapped(scratch(), [{ id: 3, label: 'three', note: null }]);
    if (testEngine === 'postgres') {
      await expect(writing).rejects.toThrow(/must insert the rows’ values, as given/);
      expect(await read()).toEqual([]);
    } else {
      await writing;
      expect(await read()).toEqual([{ id: 3, label: 'THREE', note: null }]);
    }
  });
});

describe('planner settings and statistics', () => {
  it('PostgreSQL sessions of Custos price a random page read at 1.1, pooled and pipelined alike', async () => {
    if (testEngine !== 'postgres') {
      // SQLite has no cost settings; its plans here are by index.
      expect(database.engine).toBe('sqlite');
      return;
    }
    const pooled = await sql<{ random_page_cost: string }>`show random_page_cost`.execute(database.db);
    expect(pooled.rows).toEqual([{ random_page_cost: '1.1' }]);
    // A hot query outside a transaction goes to the pipelined connection.
    const show = compiledQuery<DB, { setting: string }, []>((db) => ({
      compile: () =>
        sql<{ setting: string }>`select setting from pg_settings where name = 'random_page_cost'`.compile(db),
    }));
    expect((await show(database.db)).rows).toEqual([{ setting: '1.1' }]);
  });

  it('refreshStatistics: PostgreSQL analyzes the tables named; SQLite has nothing to refresh', async () => {
    // A scratch table stands in for Custos's own (this file's database has only scratch tables).
    await database.refreshStatistics(['dialect_rows' as keyof DB & string]);
    if (testEngine === 'postgres') {
      const { rows } = await sql<{ analyzed: boolean }>`
        select last_analyze is not null as analyzed from pg_stat_user_tables where relname = 'dialect_rows'`.execute(
        database.db,
      );
      expect(rows).toEqual([{ analyzed: true }]);
    }
    await expect(database.refreshStatistics([])).resolves.toBeUndefined();
  });
});
