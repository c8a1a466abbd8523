import type { Database } from '../db/dialect.js';
import { type CleanupSettings, cleanupJob } from '../jobs/cleanup.js';
import type { JobDefinition } from '../jobs/job.model.js';
import { deleteExpired } from './signin.repository.js';

/** Expired sign-in codes and links sign nobody in: deleted in bounded batches once past their life. */
export function signInJobs(database: Database, cleanup: CleanupSettings): JobDefinition[] {
  return [cleanupJob(database, 'signin.expired-cleanup', cleanup, 0, deleteExpired)];
}
