import type { Database } from '../db/dialect.js';
import { type CleanupSettings, cleanupJob } from './cleanup.js';
import type { JobDefinition } from './job.model.js';
import { deleteFinishedJobs } from './job.repository.js';

/**
 * The jobs table cleans itself: finished jobs (succeeded, or failed and shown to operators
 * meanwhile) are deleted after `retentionMs`. Scheduled due times are never inserted again,
 * as a scheduler only inserts the latest one and the retention outlasts any interval.
 */
export function jobRetentionJobs(
  database: Database,
  cleanup: CleanupSettings,
  retentionMs: number,
): JobDefinition[] {
  return [cleanupJob(database, 'jobs.cleanup', cleanup, retentionMs, deleteFinishedJobs)];
}
