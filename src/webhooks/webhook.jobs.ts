import type { Kysely } from 'kysely';
import type { Database } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import { type CleanupSettings, cleanupJob } from '../jobs/cleanup.js';
import type { JobDefinition } from '../jobs/job.model.js';
import type { DeliveryRecords } from './delivery-records.port.js';
import * as repo from './webhook.repository.js';

export interface OutboxRetention {
  /** Delivered messages are deleted this long after delivery. */
  deliveredMs: number;
  /** Dead letters are deleted this long after their last attempt (time enough to redeliver). */
  deadMs: number;
}

/**
 * The outbox's clean-ups. Pending messages are never deleted. Before a batch is deleted,
 * `records` copies the delivery outcome onto whatever points at the messages, so the
 * art. 19 evidence ("told at, delivered at") survives its outbox rows.
 */
export function webhookJobs(
  database: Database,
  records: DeliveryRecords,
  cleanup: CleanupSettings,
  retention: OutboxRetention,
): JobDefinition[] {
  const purge = (status: 'delivered' | 'dead') => async (trx: Kysely<DB>, before: string, size: number) => {
    const messages = await repo.findPurgeable(trx, status, before, size);
    await records.keepOutcome(
      trx,
      messages.map((m) => m.id),
    );
    await repo.deleteMessages(
      trx,
      status,
      messages.map((m) => m.seq),
    );
    return messages.length;
  };
  return [
    cleanupJob(database, 'webhooks.delivered-cleanup', cleanup, retention.deliveredMs, purge('delivered')),
    cleanupJob(database, 'webhooks.dead-cleanup', cleanup, retention.deadMs, purge('dead')),
  ];
}
