import { type CleanupSettings, inBatches } from '../jobs/cleanup.js';
import type { JobDefinition } from '../jobs/job.model.js';
import type { GrantService } from './grant.service.js';

/**
 * The authorization server's records that expired (codes, tokens, interactions, grants) are
 * deleted in bounded batches: they are never answered, and expired tokens are no one's data.
 */
export function grantJobs(grants: GrantService, cleanup: CleanupSettings): JobDefinition[] {
  return [
    {
      name: 'grants.expired-cleanup',
      schedule: cleanup.schedule,
      async run(job) {
        const outcome = await inBatches(job.signal, cleanup.limits, (size) => grants.deleteExpired(size));
        return { deleted: outcome.rows, batches: outcome.batches, complete: outcome.complete };
      },
    },
  ];
}
