import type { Kysely } from 'kysely';
import type { Database, WriteOptions } from './dialect.js';
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

  /** Resolves once the row is committed; rejects (and nothing of its batch is stored) if the commit fails. */
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
      for (const p of batch) p.reject(error);
      return;
    }
    for (const p of batch) p.resolve();
    this.onCommitted();
  }
}
