import type { Database } from '../db/dialect.js';
import { insertRequests, type NewConsentRequest } from './consent.repository.js';

interface Pending {
  row: NewConsentRequest;
  resolve: () => void;
  reject: (error: unknown) => void;
}

const MAX_BATCH = 1000;

/**
 * Group commit for accepted consent requests. A 202 may only be sent once the request is
 * durable, and a durable commit costs an fsync; instead of one fsync per request, every
 * request that arrives while a commit is in flight waits for the next one, and all of them
 * are written in a single transaction. Under load the batch grows by itself; when idle a
 * request is committed on the next turn of the event loop.
 */
export class ConsentInbox {
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private scheduled = false;

  constructor(
    private readonly database: Database,
    private readonly onCommitted: () => void,
  ) {}

  /** Resolves once the row is committed; rejects (and nothing of its batch is stored) if the commit fails. */
  enqueue(row: NewConsentRequest): Promise<void> {
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
      await this.database.writeTransaction((trx) =>
        insertRequests(
          trx,
          batch.map((p) => p.row),
        ),
      );
    } catch (error) {
      for (const p of batch) p.reject(error);
      return;
    }
    for (const p of batch) p.resolve();
    this.onCommitted();
  }
}
