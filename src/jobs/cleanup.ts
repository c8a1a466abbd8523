import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type { Database } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import type { JobDefinition, Schedule } from './job.model.js';

/** How a clean-up job bounds its work. */
export interface BatchLimits {
  /** Rows per transaction: short transactions never hold a lock (SQLite's writer) for long. */
  batchSize: number;
  /** Batches per run: a run is bounded; what is left waits for the next due time. */
  maxBatches: number;
  /** Pause between batches, leaving the database to live traffic. */
  pauseMs: number;
}

/** What every clean-up shares: when it runs and how it bounds a run. */
export interface CleanupSettings {
  schedule: Schedule;
  limits: BatchLimits;
}

export type BatchOutcome = {
  /** Rows the batches handled in total. */
  rows: number;
  batches: number;
  /** True when the last batch came back short: nothing was left. */
  complete: boolean;
};

/**
 * Calls `batch(size)` (one transaction handling at most `size` rows, returning how many it
 * handled) until a batch comes back short, `maxBatches` ran, or `signal` aborts the run.
 */
export async function inBatches(
  signal: AbortSignal,
  limits: BatchLimits,
  batch: (size: number) => Promise<number>,
): Promise<BatchOutcome> {
  const outcome: BatchOutcome = { rows: 0, batches: 0, complete: false };
  while (outcome.batches < limits.maxBatches && !signal.aborted) {
    const handled = await batch(limits.batchSize);
    outcome.rows += handled;
    outcome.batches += 1;
    if (handled < limits.batchSize) {
      outcome.complete = true;
      break;
    }
    if (limits.pauseMs > 0) await sleep(limits.pauseMs, undefined, { signal }).catch(() => undefined);
  }
  return outcome;
}

/**
 * A scheduled clean-up: deletes what `deleteBatch` finds older than `retentionMs`, in bounded
 * batches of one transaction each. The commits need not be durable: a deletion lost to a
 * power cut is simply made again by the next run.
 */
export function cleanupJob(
  database: Database,
  name: string,
  settings: CleanupSettings,
  retentionMs: number,
  deleteBatch: (trx: Kysely<DB>, before: string, size: number) => Promise<number>,
): JobDefinition {
  return {
    name,
    schedule: settings.schedule,
    async run(job) {
      const before = new Date(Date.now() - retentionMs).toISOString();
      const outcome = await inBatches(job.signal, settings.limits, (size) =>
        database.writeTransaction((trx) => deleteBatch(trx, before, size), { durable: false }),
      );
      return { deleted: outcome.rows, batches: outcome.batches, complete: outcome.complete };
    },
  };
}
