import { mkdirSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import SQLite from 'better-sqlite3';
import {
  type CompiledQuery,
  type DatabaseConnection,
  type Driver,
  Kysely,
  PostgresDialect,
  type QueryResult,
  type SelectQueryBuilder,
  SqliteDialect,
  type SqliteDialectConfig,
  SqliteDriver,
  sql,
} from 'kysely';
import pg from 'pg';
import {
  type DirectReader,
  preparedName,
  registerDirectReader,
  runHotQueriesWith,
  shareCompiledQueries,
} from './compiled.js';
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
   * Whether each statement is a round trip to another process (PostgreSQL), rather than a
   * call answered in this one (SQLite): what a read saved before a transaction is worth.
   */
  statementsAreRoundTrips: boolean;
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
  /**
   * A write transaction for work that any one worker may do (applying the consent inbox):
   * while another transaction naming the same lock is open, in this process or another, `fn`
   * is not run and the result is `undefined`, without waiting for it (unless `wait`). One
   * worker then does the whole batch rather than several splitting it, each paying the
   * transaction's fixed cost for a part. PostgreSQL: a transaction-scoped advisory lock, tried
   * in the transaction's first statement; and the server closes the connection of a
   * transaction left idle (no statement running) for a minute, ending the transaction and its
   * lock, so a hung process cannot keep it. SQLite: a write transaction as any other (after
   * waiting for the write lock as its options say), its one writer lock admits one already.
   */
  exclusiveTransaction<T>(
    lock: string,
    fn: (trx: Kysely<DB>) => Promise<T>,
    options?: ExclusiveOptions,
  ): Promise<T | undefined>;
  /** Takes the named lock inside a write transaction already open (see serializedTransaction). */
  advisoryLock(trx: Kysely<DB>, lock: string): Promise<void>;
  /** Lets concurrent workers skip rows another worker is processing (PostgreSQL); SQLite serialises writers anyway. */
  skipLocked<O>(qb: SelectQueryBuilder<DB, keyof DB, O>): SelectQueryBuilder<DB, keyof DB, O>;
  /**
   * Called between the write transactions of a long operation (an import). SQLite: leaves
   * the write lock free long enough for every other process's waiting writer, which polls
   * for it (see whileBusy), to get a turn; PostgreSQL queues lock waiters itself.
   */
  pauseBetweenTransactions(): Promise<void>;
  /**
   * After a bulk change (an import): brings the planner's statistics of these tables up to
   * date, so that the next queries (and statements prepared before) are planned for the rows
   * now there rather than for the empty tables of before. PostgreSQL: ANALYZE, which also
   * invalidates cached plans; autovacuum would get there only a minute or more later.
   * SQLite's planner keeps no statistics unless asked, and its plans here are by index.
   */
  refreshStatistics(tables: readonly (keyof DB & string)[]): Promise<void>;
  close(): Promise<void>;
}

export interface WriteOptions {
  /**
   * false: the commit need not survive a power loss (it still survives a process crash).
   * Only for work that is idempotent and re-derivable from durably stored data, such as
   * applying the durable consent inbox: if such a commit is lost, the work is redone.
   */
  durable?: boolean;
  /**
   * SQLite: how long to wait for another process's write lock before giving up with
   * DatabaseBusyError. Defaults to the database's lock wait; background work that has no
   * caller waiting for an answer passes Infinity.
   */
  maxWaitMs?: number;
}

export interface ExclusiveOptions extends WriteOptions {
  /**
   * Wait for another transaction holding the lock to end, then run `fn` (a worker stopping
   * applies what it accepted rather than leave it to another process).
   */
  wait?: boolean;
}

export interface DatabaseOptions {
  pgPoolSize?: number;
  /** SQLite: how long a statement or write transaction waits for another process's lock (default 15 s). */
  lockWaitMs?: number;
}

/**
 * SQLite only: another process (an operator command, a second server) held the write lock
 * for longer than the configured wait. Nothing was written; the caller may retry. Not an
 * AppError: code that treats AppErrors as its own refusals must not mistake it for one;
 * the HTTP error handler answers it 503 with Retry-After.
 */
export class DatabaseBusyError extends Error {
  readonly code = 'CUSTOS_DATABASE_BUSY';
  readonly retryAfterSeconds = 2;

  constructor() {
    super('The database is busy with another writer; retry shortly');
    this.name = 'DatabaseBusyError';
  }
}

const DEFAULT_LOCK_WAIT_MS = 15_000;

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
  return engineOf(url) === 'sqlite' ? openSqlite(url, options) : openPostgres(url, options);
}

/**
 * better-sqlite3 is synchronous: with a busy timeout, a statement that meets another
 * process's lock sleeps inside SQLite and the whole event loop with it. So the busy timeout
 * is zero and a locked statement fails at once with SQLITE_BUSY; it is retried here after
 * an asynchronous pause, during which the process goes on serving. SQLITE_BUSY_SNAPSHOT is
 * not retried: a deferred transaction whose snapshot is stale can never succeed by waiting.
 */
const RETRIED_CODES = new Set(['SQLITE_BUSY', 'SQLITE_BUSY_RECOVERY', 'SQLITE_BUSY_TIMEOUT']);

function isBusy(error: unknown): boolean {
  return RETRIED_CODES.has((error as { code?: string } | undefined)?.code ?? '');
}

const FIRST_PAUSE_MS = 1;
const LONGEST_PAUSE_MS = 10;

/** Doubling pauses up to 10 ms, jittered so that two waiting processes do not poll in step. */
function pauseBefore(attempt: number): number {
  const ceiling = Math.min(LONGEST_PAUSE_MS, FIRST_PAUSE_MS * 2 ** attempt);
  return ceiling / 2 + (Math.random() * ceiling) / 2;
}

/**
 * Runs `attempt` until it does not fail with SQLITE_BUSY or `waitMs` has passed, then
 * throws DatabaseBusyError. `pause` waits between attempts (and may lend the connection).
 */
async function whileBusy<T>(
  attempt: () => Promise<T>,
  waitMs: number,
  pause: (ms: number) => Promise<unknown> = sleep,
): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!isBusy(error)) throw error;
      const left = deadline - Date.now();
      if (left <= 0) throw new DatabaseBusyError();
      await pause(Math.min(left, pauseBefore(n)));
    }
  }
}

function openSqlite(url: string, options: DatabaseOptions): Database {
  const path = sqlitePath(url);
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const lockWaitMs = options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS;
  // Opening happens before anything is served, so these pragmas may block while they wait.
  const native = new SQLite(path, { timeout: lockWaitMs });
  // WAL lets readers run beside the single writer. synchronous=NORMAL: a commit writes the
  // WAL without flushing it, so the event loop never waits on the disk inside a commit; a
  // durable transaction is flushed afterwards (walFlusher), before writeTransaction resolves.
  native.pragma('journal_mode = WAL');
  native.pragma('synchronous = NORMAL');
  native.pragma('foreign_keys = ON');
  // From here on, waiting for a lock happens in whileBusy, off the event loop.
  native.pragma('busy_timeout = 0');
  const config = { database: withStatementCache(native) };
  const reader = path === ':memory:' ? undefined : openReader(path);
  const endReadSnapshot = () => reader?.endSnapshot();
  const db = new Kysely<DB>({
    dialect: new FifoSqliteDialect(config, native, lockWaitMs, endReadSnapshot),
  });
  if (reader) registerDirectReader(db, reader.read);
  const wal = path === ':memory:' ? undefined : walFlusher(`${path}-wal`);
  const writeTransaction = async <T>(
    fn: (trx: Kysely<DB>) => Promise<T>,
    options?: WriteOptions,
  ): Promise<T> => {
    // BEGIN IMMEDIATE is the one statement of a write transaction that meets another
    // process's lock. When it does, the connection is given back (so reads and other work
    // go on) and the whole attempt is repeated after a pause; once it succeeds, the
    // transaction holds the write lock and its statements do not wait.
    const result = await whileBusy(
      () =>
        db.connection().execute(async (conn) => {
          shareCompiledQueries(conn, db);
          native.exec('begin immediate');
          try {
            const result = await fn(conn);
            // So that the checkpoint a commit may run is not held back by this process's reader.
            endReadSnapshot();
            native.exec('commit');
            return result;
          } catch (error) {
            // SQLite may have rolled back already (e.g. on SQLITE_FULL); keep the original error.
            if (native.inTransaction) native.exec('rollback');
            // Only BEGIN is retried: running `fn` again after it has begun is not ours to do.
            throw isBusy(error) ? new DatabaseBusyError() : error;
          }
        }),
      options?.maxWaitMs ?? lockWaitMs,
    );
    // After the connection is given back: the next transaction writes while this one's
    // frames are flushed.
    if (options?.durable !== false) await wal?.flush();
    return result;
  };
  return {
    db,
    engine: 'sqlite',
    statementsAreRoundTrips: false,
    writeTransaction,
    serializedTransaction: (_lock, fn) => writeTransaction(fn),
    exclusiveTransaction: (_lock, fn, options) => writeTransaction(fn, options),
    // BEGIN IMMEDIATE already holds the one writer lock for the whole transaction.
    advisoryLock: async () => {},
    skipLocked: (qb) => qb,
    pauseBetweenTransactions: () => sleep(LONGEST_PAUSE_MS),
    refreshStatistics: async () => {},
    close: async () => {
      await db.destroy();
      reader?.close();
      await wal?.close();
    },
  };
}

/**
 * Makes committed transactions durable without blocking the event loop: fdatasync of the
 * WAL file on libuv's thread pool. Once it returns, every frame written before it was called
 * is on disk, so each transaction committed so far survives a power loss: what
 * synchronous=FULL promises at commit, while other requests are served. The WAL file stays
 * the same file while this process has the database open (SQLite deletes it only when its
 * last connection closes), and SQLite itself still flushes the WAL before a checkpoint
 * copies it into the database and the database before the WAL is reused. A commit is
 * visible to readers a moment before it is durable; what a reader saw can be lost only by a
 * power loss in that moment, before the writer's caller was answered.
 */
function walFlusher(walPath: string): { flush(): Promise<void>; close(): Promise<void> } {
  // Opened at the first flush: the WAL exists once something has been committed.
  let file: Promise<FileHandle> | undefined;
  return {
    async flush() {
      file ??= open(walPath, 'r');
      const opened = file;
      try {
        await (await opened).datasync();
      } catch (error) {
        // Reported to the transaction's caller; the next flush starts from a fresh handle.
        if (file === opened) file = undefined;
        await opened.then((handle) => handle.close()).catch(() => {});
        throw error;
      }
    },
    async close() {
      const opened = file;
      file = undefined;
      if (opened) await (await opened).close();
    },
  };
}

/**
 * A second, read-only connection for the hot paths' compiled reads (compiled.ts). WAL lets
 * it read the last committed state while the writer connection is inside a transaction, and
 * being synchronous, a read is one call instead of a turn in the writer's queue. A read that
 * meets a lock (WAL recovery) or any error is not answered here: the caller takes the
 * ordinary path, which waits, retries and reports errors as every other query does.
 *
 * The reads of one iteration of the event loop share one read transaction (a snapshot),
 * opened by the iteration's first read: a transaction of its own made each read cost twice
 * as much, its two file-lock calls and SQLite's setting up of the snapshot included. The
 * snapshot ends at the first read of a later iteration, at the latest in the loop's next
 * check phase (so an idle process holds none), and whenever this process's writer
 * connection is taken, commits or is given back (`endSnapshot`). So a read never misses a
 * write this process has made, and sees every commit of another process made before the
 * first read of its iteration: the state a moment earlier, as if it had run then.
 */
function openReader(path: string): { read: DirectReader; endSnapshot(): void; close(): void } {
  const reader = new SQLite(path, { readonly: true });
  reader.pragma('busy_timeout = 0');
  const begin = reader.prepare('begin');
  const end = reader.prepare('commit');
  const statements = new Map<string, SQLite.Statement>();
  /** The loop iteration whose reads the open snapshot serves. */
  let snapshotLoop = -1;
  /** An end is scheduled for the loop's next check phase and has not run yet. */
  let endPending = false;
  let usable = true;
  const endSnapshot = (): void => {
    if (!usable || !reader.inTransaction) return;
    try {
      end.run();
    } catch {
      // A read transaction has nothing to keep; if it cannot end, it is undone. One that can
      // be neither would hide every later commit: this connection then answers no more reads.
      try {
        if (reader.inTransaction) reader.exec('rollback');
      } catch {
        usable = false;
        try {
          reader.close();
        } catch {
          // Closed or not, it answers no more reads; the caller must not fail for it.
        }
      }
    }
  };
  const endOfIteration = (): void => {
    endPending = false;
    endSnapshot();
  };
  return {
    read(source, parameters) {
      if (!usable) return undefined;
      try {
        let statement = statements.get(source);
        if (!statement) {
          statement = reader.prepare(source);
          // Only compiled queries come here: their SQL is fixed, so the map stays small.
          statements.set(source, statement);
        }
        // A fresh reading each time: the property is a getter that returns a new record.
        const loop = performance.nodeTiming.uvMetricsInfo.loopCount;
        if (snapshotLoop !== loop) endSnapshot();
        if (!reader.inTransaction) {
          begin.run();
          snapshotLoop = loop;
          if (!endPending) {
            endPending = true;
            setImmediate(endOfIteration);
          }
        }
        return statement.all(...parameters);
      } catch {
        return undefined;
      }
    },
    endSnapshot,
    close: () => {
      endSnapshot();
      if (usable) reader.close();
    },
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

/**
 * The single connection, with every statement retried while another process holds a lock
 * (see whileBusy). Outside a transaction a failed statement changed nothing, so during the
 * pause the connection is lent to whoever waits for it: a write waiting for the lock does
 * not hold up reads. Inside a transaction nobody else may use the connection, so the
 * pause keeps it (a deferred transaction upgrading to a write, e.g. a migration).
 */
class BusyRetryingConnection implements DatabaseConnection {
  constructor(
    private readonly inner: DatabaseConnection,
    private readonly native: SQLite.Database,
    private readonly mutex: FifoMutex,
    private readonly lockWaitMs: number,
  ) {}

  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    return whileBusy(
      () => this.inner.executeQuery<R>(query),
      this.lockWaitMs,
      async (ms) => {
        if (this.native.inTransaction) return sleep(ms);
        this.mutex.unlock();
        try {
          await sleep(ms);
        } finally {
          await this.mutex.lock();
        }
      },
    );
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize);
  }
}

class FifoSqliteDriver extends SqliteDriver {
  private readonly mutex = new FifoMutex();
  private connection: DatabaseConnection | undefined;

  constructor(
    config: SqliteDialectConfig,
    private readonly native: SQLite.Database,
    private readonly lockWaitMs: number,
    /** Ends the direct reader's snapshot: the writer is about to change, or has changed, the data. */
    private readonly endReadSnapshot: () => void,
  ) {
    super(config);
  }

  override async init(): Promise<void> {
    await super.init();
    const inner = await super.acquireConnection();
    this.connection = new BusyRetryingConnection(inner, this.native, this.mutex, this.lockWaitMs);
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    await this.mutex.lock();
    // As before a commit: a write outside a transaction may run a checkpoint too.
    this.endReadSnapshot();
    return this.connection as DatabaseConnection;
  }

  override async releaseConnection(): Promise<void> {
    // What the connection's user wrote is committed now: no read after this may see less.
    try {
      this.endReadSnapshot();
    } finally {
      this.mutex.unlock();
    }
  }
}

class FifoSqliteDialect extends SqliteDialect {
  constructor(
    private readonly config: SqliteDialectConfig,
    private readonly native: SQLite.Database,
    private readonly lockWaitMs: number,
    private readonly endReadSnapshot: () => void,
  ) {
    super(config);
  }

  override createDriver(): Driver {
    return new FifoSqliteDriver(this.config, this.native, this.lockWaitMs, this.endReadSnapshot);
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

/** How long an exclusive transaction's process may leave it idle before the server ends it. */
const EXCLUSIVE_IDLE_LIMIT = '1min';

/** Held until the transaction ends; hashtext maps the name onto the lock's integer key space. */
async function pgAdvisoryLock(trx: Kysely<DB>, lock: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${lock}))`.execute(trx);
}

type QueryMethod = (config: unknown, values?: unknown, callback?: unknown) => unknown;

/**
 * Runs `text` as the prepared statement `name` (unnamed when undefined). The query is made
 * from its text rather than from a config object, which pg copies property by property on
 * every call: about 4 µs of CPU per query, a fifth of pg's own cost for a point read.
 */
export function queryByName(
  client: pg.ClientBase,
  name: string | undefined,
  text: string,
  values: unknown[],
): Promise<pg.QueryResult> {
  return new Promise((resolve, reject) => {
    const query = new HotQuery(text, values, (error, result) =>
      error ? reject(error) : resolve(result as unknown as pg.QueryResult),
    );
    query.name = name;
    client.query(query);
  });
}

/** What pg derives from a statement's column description to read its rows. */
interface RowReading {
  fields: pg.FieldDef[];
  parsers: unknown[];
  emptyRow: object;
}

/** The internals of pg's result that a column description sets (pg/lib/result.js). */
interface ResultInternals {
  fields: pg.FieldDef[];
  _parsers: unknown[] | undefined;
  _prebuiltEmptyResultObject: object | null;
}

/**
 * The row readings of the statements each connection has described, by statement name. On
 * one connection a prepared statement's columns cannot change: PostgreSQL refuses to execute
 * it once they would ("cached plan must not change result type").
 */
const describedOn = new WeakMap<object, Map<string, RowReading>>();

/**
 * The statements each connection must close before preparing them again: PostgreSQL refused
 * to run them because their columns changed under the connection (another process migrated).
 */
const replacedOn = new WeakMap<object, Set<string>>();

/**
 * True for PostgreSQL's refusal to run a prepared statement whose result columns changed
 * since it was prepared ("cached plan must not change result type"), told by its code and
 * the routine that raises it, not by the message, which the server's language changes.
 */
function isChangedResultType(error: unknown): boolean {
  const e = error as { code?: unknown; routine?: unknown } | undefined;
  return e?.code === '0A000' && e.routine === 'RevalidateCachedQuery';
}

/**
 * True when a statement must be prepared again before it can run: its columns changed, the
 * server does not hold it (SQLSTATE 26000: its Parse was skipped after an error earlier in a
 * batch of reads, see BatchedRead), or holds it where the client had forgotten it (42P05:
 * pg forgets a Parse still under way when a call of the same name fails). Nothing of the
 * call ran, so a read may be run again.
 */
export function mustPrepareAgain(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return isChangedResultType(error) || code === '26000' || code === '42P05';
}

/** pg's wire-protocol connection, as far as a query's preparation uses it (pg/lib/connection.js). */
interface WireConnection {
  parsedStatements: Record<string, string | undefined>;
  submittedNamedStatements: Record<string, string | undefined>;
  close(config: { type: 'S'; name: string }): void;
  parse(config: { text: string; name: string | undefined; types: unknown }): void;
  bind(config: { portal: string; statement: string | undefined; values: unknown[]; binary: unknown }): void;
  describe(config: { type: 'P'; name: string }): void;
  sync(): void;
}

/** pg's mapping of a JavaScript value onto a parameter, the one its own Bind uses. */
const prepareValue = (
  createRequire(import.meta.url)('pg/lib/utils') as { prepareValue: (value: unknown) => unknown }
).prepareValue;

/** The internals of pg's query that preparing it and reading its rows use (pg/lib/query.js). */
interface QueryInternals {
  name?: string;
  text: string;
  values: unknown[] | undefined;
  types: unknown;
  portal: string;
  rows?: number;
  binary?: boolean;
  _result: ResultInternals;
  _accumulateRows: boolean;
  callback?: unknown;
  _connection?: object;
  hasBeenParsed(connection: WireConnection): boolean;
  _getRows(connection: WireConnection, rows: number | undefined): void;
  handleError(error: unknown, connection: WireConnection): void;
}

/**
 * A query that reads the rows of a named statement the way its connection read them first.
 *
 * pg asks for the column description with every call, and makes each column's parser and an
 * empty row object (through a null-prototype object, copied) from it: about a tenth of the
 * server's CPU for the user call, whose statement has twenty columns. Here, once a connection
 * has received the statement's description, it does not ask for it again: the query is Bind,
 * Execute and Sync, and its rows are read with the parsers and empty row kept for that
 * connection. That spares the server a Describe, and the client a message to parse and the
 * parsers to make, on every call. (Calls sent before the first description arrives, and
 * statements that return no columns, still ask.) Another connection describes the statement
 * afresh, so after another process migrated it is read with its new columns. A result's
 * `fields` are the kept description's; nothing in Custos reads them.
 *
 * The rest is pg's own preparation (pg/lib/query.js `prepare`), with one difference: the
 * values are mapped before anything is written, so a value that cannot be mapped fails its
 * call with only a Sync sent, and no Close. pg maps them while writing Bind, after Parse,
 * and answers such a value by closing the statement, which it goes on to count as prepared
 * on that connection: every later call with that name then failed.
 */
class HotQuery extends pg.Query {
  declare name: string | undefined;
  /** This call sent a Parse (the statement was not prepared on its connection). */
  sentParse = false;
  /** This call sent a Sync of its own, so the server's next ReadyForQuery after it is its. */
  sentSync = false;

  prepare(connection: WireConnection): void {
    const self = this as unknown as QueryInternals;
    let values: unknown[];
    try {
      values = (self.values ?? []).map(prepareValue);
    } catch (error) {
      // Only a Sync is sent for this query: its ReadyForQuery is the answer the client awaits.
      connection.sync();
      this.sentSync = true;
      self.handleError(error, connection);
      return;
    }
    const { name, portal } = self;
    const reading =
      !name || self.rows !== undefined || portal !== '' ? undefined : describedOn.get(connection)?.get(name);
    if (reading === undefined) {
      self._connection = connection;
      if (!self.hasBeenParsed(connection)) {
        // The server still holds the refused statement under this name: closing it first
        // (never an error, even once closed) lets the name be prepared again.
        const replaced = replacedOn.get(connection);
        if (name && replaced?.delete(name)) connection.close({ type: 'S', name });
        connection.parse({ text: self.text, name, types: self.types });
        this.sentParse = true;
        if (name) connection.submittedNamedStatements[name] = self.text;
      }
    }
    connection.bind({ portal, statement: name, values, binary: self.binary });
    if (reading === undefined) connection.describe({ type: 'P', name: portal });
    else useReading(self, reading);
    self._getRows(connection, self.rows);
  }

  /**
   * A statement refused because its columns changed, or not held by the server, is forgotten
   * on its connection, so the next call prepares and describes it again. pg would go on
   * binding the refused statement, and every later call of its name on that connection would
   * fail the same way.
   */
  handleError(error: unknown, connection: WireConnection): void {
    if (this.name && mustPrepareAgain(error)) forgetStatement(connection, this.name);
    (pg.Query.prototype as unknown as QueryInternals).handleError.call(this, error, connection);
  }

  handleRowDescription(message: { fields: pg.FieldDef[] }): void {
    (pg.Query.prototype as unknown as { handleRowDescription(m: unknown): void }).handleRowDescription.call(
      this,
      message,
    );
    const self = this as unknown as QueryInternals;
    const { name, _connection: connection, _result: result } = self;
    // An unnamed statement ('' or none) is replaced by the next one: nothing is kept for it.
    if (!name || connection === undefined || !result._parsers || !result._prebuiltEmptyResultObject) return;
    const reading = {
      fields: result.fields,
      parsers: result._parsers,
      emptyRow: result._prebuiltEmptyResultObject,
    };
    const described = describedOn.get(connection) ?? new Map<string, RowReading>();
    describedOn.set(connection, described.set(name, reading));
  }
}

/**
 * The connection's next call of `name` prepares and describes it again, closing first what
 * the server may still hold under that name (a Close is never an error, even once closed).
 */
function forgetStatement(connection: WireConnection, name: string): void {
  delete connection.parsedStatements[name];
  delete connection.submittedNamedStatements[name];
  describedOn.get(connection)?.delete(name);
  const replaced = replacedOn.get(connection) ?? new Set<string>();
  replacedOn.set(connection, replaced.add(name));
}

/** pg's client, as far as ending a batched read and its batch uses it (pg/lib/client.js). */
interface ClientInternals {
  _activeQuery: object | null | undefined;
  _sentQueryQueue: object[];
  _queryable: boolean;
  readyForQuery: boolean;
  connection: pg.Connection & WireConnection;
  _pulseQueryQueue(): void;
}

/**
 * A read on the pipelined connection sent without a Sync of its own: the reads of one turn of
 * the event loop are followed by one Sync (BatchEnd). Each Sync made the server end an
 * implicit transaction, send ReadyForQuery and flush its socket, and the client read every
 * answer as a segment of its own: per two-column point read in batches of 25, 12–22 µs of
 * the server's CPU and 15–18 µs of the client's with a Sync each, 5–7 and 3–5 µs with one a
 * batch. Only reads are sent this way; a write keeps its own Sync, which is its commit.
 *
 * pg ends a query at its ReadyForQuery; a batched read ends at its CommandComplete, and the
 * client moves on to the next. After a read fails at the server, the server skips what follows
 * up to the next Sync: the reads it skipped got no answer, are taken off the client's queue
 * and sent again (a Parse among them did not happen, so it is sent again too), and the query
 * that sent that Sync takes the ReadyForQuery. So a read failing still fails alone. A later
 * read bound to a statement whose Parse was skipped fails with SQLSTATE 26000 and is prepared
 * and run again (mustPrepareAgain).
 */
class BatchedRead extends HotQuery {
  constructor(
    text: string,
    values: unknown[],
    callback: (error: Error | undefined, result: unknown) => void,
    private readonly client: pg.Client,
    readonly sendAgain: (read: BatchedRead) => void,
  ) {
    super(text, values, callback);
  }

  override prepare(connection: WireConnection): void {
    this.sentParse = false;
    super.prepare(connection);
  }

  /** Execute without Sync (pg/lib/query.js `_getRows`, which sends one). */
  _getRows(connection: WireConnection & { execute(config: object): void }, rows: number | undefined): void {
    connection.execute({ portal: (this as unknown as QueryInternals).portal, rows });
  }

  handleCommandComplete(message: unknown, connection: WireConnection): void {
    (
      pg.Query.prototype as unknown as { handleCommandComplete(m: unknown, c: unknown): void }
    ).handleCommandComplete.call(this, message, connection);
    const client = this.client as unknown as ClientInternals;
    if (client._activeQuery === this) {
      client._activeQuery = null;
      client.readyForQuery = true;
    }
    // What pg's handleReadyForQuery does: a row that could not be read fails the call.
    const self = this as unknown as {
      _canceledDueToError: unknown;
      _results: unknown;
      callback?: (error: Error | undefined, result?: unknown) => void;
    };
    const failed = self._canceledDueToError;
    self._canceledDueToError = false;
    if (failed) self.callback?.(failed as Error);
    else self.callback?.(undefined, self._results);
    client._pulseQueryQueue();
  }

  override handleError(error: unknown, connection: WireConnection): void {
    // The statement forgotten where it must be, so that the reads sent again below prepare it
    // again; the caller's promise settles only after this turn.
    super.handleError(error, connection);
    const client = this.client as unknown as ClientInternals;
    // A server's refusal (not a lost connection, nor a value refused before sending).
    if (error instanceof pg.DatabaseError && !this.sentSync && client._queryable) skipToSync(client);
  }
}

/**
 * After a batched read's refusal: the queries the server skipped are sent again, and the first
 * one that sent a Sync becomes the active query, to take the ReadyForQuery that comes next.
 */
function skipToSync(client: ClientInternals): void {
  const queue = client._sentQueryQueue;
  const skipped: BatchedRead[] = [];
  let next = queue.shift();
  while (next instanceof BatchedRead && !next.sentSync) {
    skipped.push(next);
    next = queue.shift();
  }
  if (next === undefined) {
    // Every batch ends with a Sync: without one sent, the answers could no longer be told
    // apart. The connection is dropped, which fails every call on it (the skipped ones put
    // back for that); the next call connects again.
    queue.unshift(...skipped);
    client.connection.stream.destroy();
    return;
  }
  client._activeQuery = next;
  client.readyForQuery = false;
  // A skipped Parse (and the Close before it) did not happen: the server holds what it held.
  for (const { name, sentParse } of skipped) if (sentParse && name) forgetStatement(client.connection, name);
  for (const read of skipped) read.sendAgain(read);
}

/** The Sync that ends a batch of reads; nobody awaits it. */
class BatchEnd extends pg.Query {
  constructor() {
    super('');
    // pg's types declare `submit` as a property: the Sync is all this query sends.
    (this as unknown as { submit(connection: WireConnection): null }).submit = (connection) => {
      connection.sync();
      return null;
    };
  }

  handleReadyForQuery(): void {}

  handleError(): void {}
}

/** What pg's own description handler sets (a named statement has one result). */
function useReading(query: QueryInternals, reading: RowReading): void {
  const result = query._result;
  result.fields = reading.fields;
  result._parsers = reading.parsers;
  result._prebuiltEmptyResultObject = reading.emptyRow;
  query._accumulateRows =
    Boolean(query.callback) || (query as unknown as pg.Query).listeners('row').length === 0;
}

/**
 * Sends the hot queries (compiledQuery in compiled.ts) as named prepared statements: the
 * server parses and plans each once per connection, and every later call only binds and
 * executes it. Kysely sends SQL text and parameters, so the name is put on here, by text.
 */
function prepareHotQueries(client: pg.PoolClient): void {
  const query = client.query.bind(client) as QueryMethod;
  (client as unknown as { query: QueryMethod }).query = (config, values, callback) => {
    const name = typeof config === 'string' ? preparedName(config) : undefined;
    if (name === undefined || callback !== undefined || !Array.isArray(values))
      return query(config, values, callback);
    return queryByName(client, name, config as string, values);
  };
}

/**
 * Planner settings of Custos's own sessions. Its reads are point lookups by index into a
 * working set that stays in memory, but PostgreSQL's default random_page_cost (4, priced for
 * spinning disks) makes a small table's sequential scan look cheaper than ninety index
 * probes: report-accounts' membership check read every member of a 10,000-member site on
 * each request (4 ms instead of 0.9). 1.1 is the usual setting for SSDs and cached data. A
 * DATABASE_URL that sets `options` itself replaces this (connection-string values win).
 */
const PG_SESSION_OPTIONS = '-c random_page_cost=1.1';

/**
 * One connection in pg's pipeline mode for the hot queries outside transactions: every
 * request's query is written at once, without waiting for the answer to the one before, and
 * a single backend answers them in turn. Requests do not queue for a pool connection, and
 * the two cores are not shared with a backend per pooled connection. The reads of one turn
 * share one Sync (BatchedRead), a write has its own; one failing fails alone. A lost
 * connection is replaced at the next query.
 */
function pipelinedConnection(url: string) {
  let current: Promise<pg.Client> | undefined;
  const connect = (): Promise<pg.Client> => {
    const client = new pg.Client({
      connectionString: url,
      options: PG_SESSION_OPTIONS,
      types: pgTypes,
      pipeline: true,
    });
    const connecting = client.connect().then(() => client);
    const forget = () => {
      if (current === connecting) current = undefined;
    };
    client.on('error', forget);
    client.on('end', forget);
    connecting.catch(forget);
    current = connecting;
    return connecting;
  };
  // The queries of one turn of the event loop go out in one write: each request's query would
  // otherwise be a socket write of its own. Flushed once the requests that arrived together
  // have been handled (setImmediate runs right after the loop's I/O callbacks), after the
  // Sync that ends the turn's reads (BatchedRead).
  const corked = new WeakSet<pg.Client>();
  /** Clients with reads sent since their last Sync. */
  const unsynced = new WeakSet<pg.Client>();
  const endBatch = (client: pg.Client) => {
    if (unsynced.delete(client)) client.query(new BatchEnd());
  };
  const batchWrites = (client: pg.Client) => {
    if (corked.has(client)) return;
    corked.add(client);
    const { stream } = client.connection;
    stream.cork();
    setImmediate(() => {
      corked.delete(client);
      endBatch(client);
      stream.uncork();
    });
  };
  const sendRead = (client: pg.Client, read: BatchedRead) => {
    batchWrites(client);
    unsynced.add(client);
    client.query(read);
  };
  const run = async (text: string, values: unknown[]) => {
    const client = await (current ?? connect());
    const name = preparedName(text);
    if (!name || !/^select\s/i.test(text)) {
      // A write ends the batch before it: its own Sync commits it, and a read failing beside
      // it cannot make the server skip it.
      batchWrites(client);
      endBatch(client);
      return (await queryByName(client, name, text, values)).rows;
    }
    return new Promise<unknown[]>((resolve, reject) => {
      const read = new BatchedRead(
        text,
        values,
        (error, result) => (error ? reject(error) : resolve((result as pg.QueryResult).rows)),
        client,
        (again) => sendRead(client, again),
      );
      read.name = name;
      sendRead(client, read);
    });
  };
  return {
    async query(text: string, values: readonly unknown[]) {
      for (let attempt = 1; ; attempt++) {
        try {
          return { rows: await run(text, [...values]) };
        } catch (error) {
          // Prepared again (HotQuery.handleError): nothing of the call ran, so it is run again.
          // Each refusal follows a change or another call's refusal; a third is reported.
          if (!mustPrepareAgain(error) || attempt === 3) throw error;
        }
      }
    },
    async end() {
      const client = await current?.catch(() => undefined);
      current = undefined;
      if (client) {
        // The turn's reads get their Sync now: pg takes no query once it is ending, and
        // without the Sync the server would never answer them, nor pg's end finish.
        endBatch(client);
        await client.end();
      }
    },
  };
}

function openPostgres(url: string, options: DatabaseOptions): Database {
  const pool = new pg.Pool({
    connectionString: url,
    options: PG_SESSION_OPTIONS,
    max: options.pgPoolSize ?? 10,
    types: pgTypes,
  });
  // A client losing its connection must not crash the process: an idle one is replaced by
  // the pool; one in use (the server ended a transaction left idle, or restarted) fails its
  // next query, and the pool discards it when it is given back.
  pool.on('error', () => {});
  pool.on('connect', (client) => {
    client.on('error', () => {});
    prepareHotQueries(client);
  });
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  const hot = pipelinedConnection(url);
  runHotQueriesWith(db, hot.query);
  return {
    db,
    engine: 'postgres',
    statementsAreRoundTrips: true,
    writeTransaction: (fn, options) =>
      db.transaction().execute(async (trx) => {
        shareCompiledQueries(trx, db);
        if (options?.durable === false) await sql`set local synchronous_commit to off`.execute(trx);
        return fn(trx);
      }),
    serializedTransaction: (lock, fn) =>
      db.transaction().execute(async (trx) => {
        shareCompiledQueries(trx, db);
        await pgAdvisoryLock(trx, lock);
        return fn(trx);
      }),
    exclusiveTransaction: (lock, fn, options) =>
      db.transaction().execute(async (trx) => {
        shareCompiledQueries(trx, db);
        // One statement: the settings (for this transaction only) and the lock, tried or
        // waited for. A durable transaction keeps the session's synchronous_commit.
        const commit = options?.durable === false ? sql`'off'` : sql`current_setting('synchronous_commit')`;
        const key = sql`hashtext(${lock})`;
        const take = options?.wait
          ? sql`(select true from pg_advisory_xact_lock(${key}))`
          : sql`pg_try_advisory_xact_lock(${key})`;
        const { rows } = await sql<{ locked: boolean }>`select
          set_config('synchronous_commit', ${commit}, true),
          set_config('idle_in_transaction_session_timeout', ${EXCLUSIVE_IDLE_LIMIT}, true),
          ${take} as locked`.execute(trx);
        return rows[0]?.locked ? fn(trx) : undefined;
      }),
    advisoryLock: pgAdvisoryLock,
    skipLocked: (qb) => qb.forUpdate().skipLocked(),
    pauseBetweenTransactions: async () => {},
    refreshStatistics: async (tables) => {
      if (tables.length > 0) await sql`analyze ${sql.join(tables.map((t) => sql.table(t)))}`.execute(db);
    },
    close: async () => {
      await hot.end();
      await db.destroy();
    },
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
