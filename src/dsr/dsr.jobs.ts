import type { Database } from '../db/dialect.js';
import { type CleanupSettings, cleanupJob } from '../jobs/cleanup.js';
import type { JobDefinition, Schedule } from '../jobs/job.model.js';
import { clearExpiredExports } from './dsr.repository.js';
import { ADVANCE_JOB, type DsrService } from './dsr.service.js';

/**
 * The background work of data-subject requests:
 * - `dsr.advance` runs Custos's own step of one request (enqueued by each transition, at the
 *   time the step is due: an erasure's grace end, the apps' deadline). A failure is written on
 *   the request and retried with backoff; the console shows the error.
 * - `dsr.watch` sends reminders before deadlines, puts overdue and stalled requests on the
 *   attention list, and re-enqueues any due step whose job was lost.
 * - `dsr.export-cleanup` deletes access exports past their retention.
 * The service is passed as a getter: the jobs are defined before the services they call.
 */
export function dsrJobs(
  database: Database,
  dsr: () => DsrService,
  watchSchedule: Schedule,
  cleanup: CleanupSettings,
): JobDefinition[] {
  return [
    {
      name: ADVANCE_JOB,
      maxAttempts: 8,
      retryBaseMs: 10_000,
      async run(job) {
        const requestId = job.payload.requestId;
        if (typeof requestId !== 'string') throw new Error('dsr.advance needs a requestId');
        return dsr().advance(requestId);
      },
    },
    {
      name: 'dsr.watch',
      schedule: watchSchedule,
      run: () => dsr().watch(),
    },
    // `before` is now: each export row carries its own deletion time.
    cleanupJob(database, 'dsr.export-cleanup', cleanup, 0, clearExpiredExports),
  ];
}
