import type { Database } from '../db/dialect.js';
import { type CleanupSettings, cleanupJob } from '../jobs/cleanup.js';
import type { JobDefinition } from '../jobs/job.model.js';
import { quotaDay } from './notification.model.js';
import { deleteNotificationsBefore, deleteQuotaBefore } from './notification.repository.js';
import { DELIVER_JOB, type NotificationDelivery } from './notification.service.js';

const DELIVERY_ATTEMPTS = 6;

/**
 * The relay's jobs: `notifications.deliver`, enqueued with each accepted notification (its
 * key is the notification id, so a notification has one job), retried with backoff while the
 * mail server refuses; and `notifications.cleanup`, deleting what apps asked to send after the
 * retention, with the quota days gone by.
 */
export function notificationJobs(
  database: Database,
  delivery: NotificationDelivery,
  cleanup: CleanupSettings,
  retentionMs: number,
  retryBaseMs?: number,
): JobDefinition[] {
  return [
    {
      name: DELIVER_JOB,
      maxAttempts: DELIVERY_ATTEMPTS,
      ...(retryBaseMs === undefined ? {} : { retryBaseMs }),
      async run(job) {
        const id = job.payload.notificationId;
        if (typeof id !== 'string') return { sent: 0 };
        return delivery.deliver(id, job.signal, job.attempt >= DELIVERY_ATTEMPTS);
      },
    },
    cleanupJob(database, 'notifications.cleanup', cleanup, retentionMs, async (trx, before, size) => {
      const deleted = await deleteNotificationsBefore(trx, before, size);
      if (deleted < size) await deleteQuotaBefore(trx, quotaDay(new Date()).day);
      return deleted;
    }),
  ];
}
