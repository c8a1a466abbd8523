import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { CompiledQuery } from 'kysely';

/**
 * A second SQLite connection on its own thread, for the durable commits a request waits for
 * (the consent inbox's group commit). better-sqlite3 is synchronous: a commit with
 * synchronous=FULL holds the thread that runs it for the whole fsync. On the writer thread,
 * the fsync and the statements overlap with request handling on the main thread, and the
 * caller is answered once the commit, fsync included, has returned.
 *
 * The thread only runs statements compiled on the main thread (SQL and parameters), in one
 * `BEGIN IMMEDIATE` transaction per batch; it knows no table. It waits for the write lock
 * with SQLite's own busy timeout, which blocks only itself. Errors come back with their
 * SQLite code, so a caller can tell a row's fault (a constraint) from the database's.
 */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const SQLite = require(workerData.driver);
const db = new SQLite(workerData.path, { timeout: workerData.lockWaitMs });
db.pragma('synchronous = FULL');
db.pragma('foreign_keys = ON');
const statements = new Map();
function prepared(source) {
  let statement = statements.get(source);
  if (!statement) {
    if (statements.size >= 64) statements.clear();
    statement = db.prepare(source);
    statements.set(source, statement);
  }
  return statement;
}
parentPort.on('message', (message) => {
  if (message.close) {
    db.close();
    parentPort.close();
    return;
  }
  try {
    db.exec('begin immediate');
    try {
      for (const { sql, parameters } of message.statements) prepared(sql).run(...parameters);
      db.exec('commit');
    } catch (error) {
      if (db.inTransaction) db.exec('rollback');
      throw error;
    }
    parentPort.postMessage({ id: message.id });
  } catch (error) {
    parentPort.postMessage({ id: message.id, error: { message: String(error && error.message), code: error && error.code } });
  }
});
`;

interface Waiting {
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class SqliteWriterThread {
  private worker: Worker | undefined;
  private readonly waiting = new Map<number, Waiting>();
  private next = 0;
  private closed = false;

  constructor(
    private readonly path: string,
    private readonly lockWaitMs: number,
    private readonly toError: (error: { message: string; code?: string }) => Error,
  ) {}

  /** Runs the statements in one durable transaction; resolves once it is committed and fsynced. */
  commit(statements: readonly CompiledQuery[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('The database is closed'));
    const worker = this.start();
    const id = this.next++;
    const promise = new Promise<void>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    // Kept alive while a commit is under way, so that a short-lived command does not exit before it.
    if (this.waiting.size === 1) worker.ref();
    worker.postMessage({
      id,
      statements: statements.map((s) => ({ sql: s.sql, parameters: s.parameters })),
    });
    return promise;
  }

  /** Lets commits under way finish, then stops the thread. */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    if (!worker) return;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.postMessage({ close: true });
    await exited;
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(THREAD_SOURCE, {
      eval: true,
      workerData: {
        path: this.path,
        lockWaitMs: this.lockWaitMs,
        driver: createRequire(import.meta.url).resolve('better-sqlite3'),
      },
    });
    worker.on('message', (message: { id: number; error?: { message: string; code?: string } }) => {
      const waiting = this.waiting.get(message.id);
      if (!waiting) return;
      this.waiting.delete(message.id);
      if (this.waiting.size === 0) worker.unref();
      if (message.error) waiting.reject(this.toError(message.error));
      else waiting.resolve();
    });
    const fail = (error: Error) => {
      for (const waiting of this.waiting.values()) waiting.reject(error);
      this.waiting.clear();
      this.worker = undefined;
    };
    worker.on('error', fail);
    worker.on('exit', () => fail(new Error('The database writer thread stopped')));
    worker.unref();
    this.worker = worker;
    return worker;
  }
}
