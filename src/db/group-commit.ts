import type { Kysely } from 'kysely';
import { type Database, isRowError, type WriteOptions } from './dialect.js';
import type { DB } from './schema.js';

interface Pending<T> {
  row: T;
  resolve: () => void;
  reject: (error: unknown) => void;
}

const MAX_BATCH = 1000;

/**
 * Group commit: instead of one transaction (and, when durable, one fsync) per request,
 * every row that arrives while a commit is in flight waits for the next one, and all of
 * them are written in a single transaction. Under load the batch grows by itself; when
 * idle a row is committed on the next turn of the event loop.
 */
export class GroupCommit<T> {
  private queue: Pending<T>[] = [];
  private flushing: Promise<void> | undefined;
  private scheduled = false;

  constructor(
    private readonly database: Database,
    private readonly write: (trx: Kysely<DB>, rows: T[]) => Promise<void>,
    private readonly onCommitted: () => void = () => {},
    private readonly options: WriteOptions = {},
  ) {}

  /** Resolves once the row is committed; rejects if it cannot be (see commit: other rows still can). */
  enqueue(row: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      this.schedule();
    });
  }

  /** Waits until everything enqueued so far is committed (or has failed). */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.flushing || this.scheduled) {
      await (this.flushing ?? new Promise((r) => setImmediate(r)));
    }
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flushing = this.flush().finally(() => {
        this.flushing = undefined;
        if (this.queue.length > 0) this.schedule();
      });
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, MAX_BATCH);
    if (batch.length === 0) return;
    if ((await this.commit(batch)) > 0) this.onCommitted();
  }

  /**
   * Writes `batch` in one transaction and settles each row's promise; returns how many rows
   * were committed. When the engine refuses one row's data, the transaction takes the whole
   * batch down with it, so the batch is split in halves and each half retried, down to the
   * single row at fault: one caller's bad row never fails another caller's request, and
   * the halves commit in arrival order. Any other failure (a lost connection, a busy
   * database) would fail every retry as well, so it rejects the whole batch at once.
   */
  private async commit(batch: Pending<T>[]): Promise<number> {
    try {
      await this.database.writeTransaction(
        (trx) =>
          this.write(
            trx,
            batch.map((p) => p.row),
          ),
        this.options,
      );
    } catch (error) {
      if (batch.length === 1 || !isRowError(error)) {
        for (const p of batch) p.reject(error);
        return 0;
      }
      const half = Math.ceil(batch.length / 2);
      return (await this.commit(batch.slice(0, half))) + (await this.commit(batch.slice(half)));
    }
    for (const p of batch) p.resolve();
    return batch.length;
  }
}
