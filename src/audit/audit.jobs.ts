import type { JobDefinition, Schedule } from '../jobs/job.model.js';
import type { AuditCheckpoints } from './checkpoint.service.js';

/**
 * The audit log's background job: a signed checkpoint at each due time while the log grows,
 * and the witnesses' missing checkpoints delivered. Without a schedule (the interval set to
 * 0), checkpoints are taken on demand only.
 */
export function auditJobs(checkpoints: AuditCheckpoints, schedule: Schedule | undefined): JobDefinition[] {
  if (!schedule) return [];
  return [
    {
      name: 'audit.checkpoint',
      schedule,
      run: () => checkpoints.runScheduled(),
    },
  ];
}
