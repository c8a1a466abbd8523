import { type CleanupSettings, inBatches } from '../jobs/cleanup.js';
import type { JobDefinition } from '../jobs/job.model.js';
import type { SessionService } from './session.service.js';

/**
 * People's sessions that no longer work (timed out, signed out, revoked) are deleted in
 * bounded batches: they let no one in, and a person's list shows live sessions only.
 */
export function sessionJobs(sessions: SessionService, cleanup: CleanupSettings): JobDefinition[] {
  return [
    {
      name: 'sessions.expired-cleanup',
      schedule: cleanup.schedule,
      async run(job) {
        const outcome = await inBatches(job.signal, cleanup.limits, (size) =>
          sessions.deleteExpiredSessions(size),
        );
        return { deleted: outcome.rows, batches: outcome.batches, complete: outcome.complete };
      },
    },
  ];
}
