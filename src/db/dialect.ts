import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import {
  type DatabaseConnection,
  type Driver,
  Kysely,
  PostgresDialect,
  type SelectQueryBuilder,
  SqliteDialect,
  type SqliteDialectConfig,
  SqliteDriver,
  sql,
} from 'kysely';
import pg from 'pg';
import type { DB } from './schema.js';

/**
 * Every difference between the two engines lives in this file; the rest of Custos is
 * dialect-agnostic and only sees a `Database`.
 */
export type Engine = 'sqlite' | 'postgres';

export interface Database {
  db: Kysely<DB>;
  engine: Engine;
  /**
   * Runs `fn` in a transaction that holds the write lock from its first statement. On
   * SQLite this is `BEGIN IMMEDIATE`, so a transaction that reads before it writes cannot
   * fail to upgrade its lock under concurrency; on PostgreSQL an ordinary transaction.
   */
  writeTransaction<T>(fn: (trx: Kysely<DB>) => Promise<T>, options?: WriteOptions): Promise<T>;
  /**
   * A write transaction that is also serialized with every other one naming the same lock,
   * for append-only chains whose next row depends on the last (the audit log). SQLite's
   * single writer serializes already; PostgreSQL takes a transaction-scoped advisory lock.
   */
  serializedTransaction<T>(lock: string, fn: (trx: Kysely<DB>) => Promise<T>): Promise<T>;
  /** Takes the named lock inside a write transaction already open (see serializedTransaction). */
  advisoryLock(trx: Kysely<DB>, lock: string): Promise<void>;
  /** Lets concurrent workers skip rows another worker is processing (PostgreSQL); SQLite serialises writers anyway. */
  skipLocked<O>(qb: SelectQueryBuilder<DB, keyof DB, O>): SelectQueryBuilder<DB, keyof DB, O>;
  close(): Promise<void>;
}

export interface WriteOptions {
  /**
   * false: the commit need not survive a power loss (it still survives a process crash).
   * Only for work that is idempotent and re-derivable from durably stored data, such as
   * applying the durable consent inbox: if such a commit is lost, the work is redone.
   */
  durable?: boolean;
}

export interface DatabaseOptions {
  pgPoolSize?: number;
}

export function engineOf(url: string): Engine {
  if (url.startsWith('sqlite:')) return 'sqlite';
  if (/^postgres(ql)?:\/\//.test(url)) return 'postgres';
  throw new Error('DATABASE_URL must start with sqlite: or postgres://');
}

export function sqlitePath(url: string): string {
  const path = url.slice('sqlite:'.length).replace(/^\/\//, '');
  if (path === '') throw new Error('DATABASE_URL sqlite: needs a file path, e.g. sqlite:./data/custos.db');
  return path === ':memory:' ? path : resolve(path);
}

export function openDatabase(url: string, options: DatabaseOptions = {}): Database {
  return engineOf(url) === 'sqlite' ? openSqlite(url) : openPostgres(url, options);
}

function openSqlite(url: string): Database {
  const path = sqlitePath(url);
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const native = new SQLite(path);
  // WAL lets readers run beside the single writer; synchronous=FULL fsyncs the WAL at every
  // commit, which is what makes "committed" mean "survives a crash or power loss".
  native.pragma('journal_mode = WAL');
  native.pragma('synchronous = FULL');
  native.pragma('foreign_keys = ON');
  native.pragma('busy_timeout = 10000');
  const config = { database: withStatementCache(native) };
  const db = new Kysely<DB>({ dialect: new FifoSqliteDialect(config) });
  const writeTransaction = <T>(fn: (trx: Kysely<DB>) => Promise<T>, options?: WriteOptions): Promise<T> =>
    db.connection().execute(async (conn) => {
      const relaxed = options?.durable === false;
      // synchronous=NORMAL in WAL mode skips the fsync at commit; set outside the transaction.
      if (relaxed) await sql`pragma synchronous = NORMAL`.execute(conn);
      try {
        await sql`begin immediate`.execute(conn);
        try {
          const result = await fn(conn);
          await sql`commit`.execute(conn);
          return result;
        } catch (error) {
          await sql`rollback`.execute(conn);
          throw error;
        }
      } finally {
        if (relaxed) await sql`pragma synchronous = FULL`.execute(conn);
      }
    });
  return {
    db,
    engine: 'sqlite',
    writeTransaction,
    serializedTransaction: (_lock, fn) => writeTransaction(fn),
    // BEGIN IMMEDIATE already holds the one writer lock for the whole transaction.
    advisoryLock: async () => {},
    skipLocked: (qb) => qb,
    close: () => db.destroy(),
  };
}

/**
 * SQLite has one connection, so Kysely serializes queries with a mutex; its mutex wakes
 * every waiter on each release (all but one go back to sleep), which under 32 concurrent
 * requests cost more than the queries themselves. This driver takes Kysely's lock once for
 * good and hands the connection out in arrival order instead: one wake-up per release.
 */
class FifoMutex {
  private locked = false;
  private readonly waiters: (() => void)[] = [];

  lock(): Promise<void> {
    if (!this.locked) {
      this.locked = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  unlock(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.locked = false;
  }
}

class FifoSqliteDriver extends SqliteDriver {
  private readonly mutex = new FifoMutex();
  private connection: DatabaseConnection | undefined;

  override async init(): Promise<void> {
    await super.init();
    this.connection = await super.acquireConnection();
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    await this.mutex.lock();
    return this.connection as DatabaseConnection;
  }

  override async releaseConnection(): Promise<void> {
    this.mutex.unlock();
  }
}

class FifoSqliteDialect extends SqliteDialect {
  constructor(private readonly config: SqliteDialectConfig) {
    super(config);
  }

  override createDriver(): Driver {
    return new FifoSqliteDriver(this.config);
  }
}

const STATEMENT_CACHE_SIZE = 256;

/**
 * Kysely prepares every query anew; preparing costs more than running a small indexed
 * query. Statements are reusable, and Kysely's SQLite driver runs one query at a time on
 * its single connection, so keep the most recent ones (the hot paths' SQL is stable).
 */
function withStatementCache(native: SQLite.Database): SQLite.Database {
  const cache = new Map<string, SQLite.Statement>();
  const prepare = (source: string): SQLite.Statement => {
    let statement = cache.get(source);
    if (statement) {
      cache.delete(source);
    } else {
      statement = native.prepare(source);
      if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
    }
    cache.set(source, statement);
    return statement;
  };
  return new Proxy(native, {
    get(target, property) {
      if (property === 'prepare') return prepare;
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

// int8 (bigint, bigserial, count(*)) arrives as a string by default; Custos's ids and counts
// stay far below 2^53, so read them as numbers to match SQLite.
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.INT8) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
};

/** Held until the transaction ends; hashtext maps the name onto the lock's integer key space. */
async function pgAdvisoryLock(trx: Kysely<DB>, lock: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${lock}))`.execute(trx);
}

function openPostgres(url: string, options: DatabaseOptions): Database {
  const pool = new pg.Pool({ connectionString: url, max: options.pgPoolSize ?? 10, types: pgTypes });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    engine: 'postgres',
    writeTransaction: (fn, options) =>
      db.transaction().execute(async (trx) => {
        if (options?.durable === false) await sql`set local synchronous_commit to off`.execute(trx);
        return fn(trx);
      }),
    serializedTransaction: (lock, fn) =>
      db.transaction().execute(async (trx) => {
        await pgAdvisoryLock(trx, lock);
        return fn(trx);
      }),
    advisoryLock: pgAdvisoryLock,
    skipLocked: (qb) => qb.forUpdate().skipLocked(),
    close: () => db.destroy(),
  };
}

/** True when the error is a unique-constraint violation on either engine. */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string } | undefined;
  return (
    e?.code === '23505' ||
    e?.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  );
}

/**
 * True when the engine refused the data of a row rather than the transaction as such: a
 * value it cannot store (PostgreSQL SQLSTATE class 22, data exception) or a violated
 * constraint (class 23; SQLite's constraint, type mismatch and too-big errors). Another
 * transaction without that row can succeed; after a lost connection or a busy lock it
 * cannot, so those are not row errors.
 */
export function isRowError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string') return false;
  if (/^2[23][0-9A-Z]{3}$/.test(code)) return true;
  return /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG)/.test(code);
}
