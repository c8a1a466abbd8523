import type { Database } from '../db/dialect.js';
import { type CleanupSettings, cleanupJob } from '../jobs/cleanup.js';
import type { JobDefinition } from '../jobs/job.model.js';
import { deleteAppliedRequests } from './consent.repository.js';

/**
 * Consent's background jobs. The inbox is a queue: once a request is applied, its consent
 * events are the proof (GDPR art. 7(1)) and the row only shows recent traffic, so applied
 * rows are deleted after `inboxRetentionMs`; pending rows never are.
 */
export function consentJobs(
  database: Database,
  cleanup: CleanupSettings,
  inboxRetentionMs: number,
): JobDefinition[] {
  return [cleanupJob(database, 'consent.inbox-cleanup', cleanup, inboxRetentionMs, deleteAppliedRequests)];
}
