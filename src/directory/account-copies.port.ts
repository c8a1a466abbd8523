import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

/**
 * Copies of an account's profile kept outside the directory: the exports of its data-subject
 * access requests and the parts apps uploaded for them (docs/legal-rules.md#art-15-to-18-and-20-access-rectification-erasure-restriction-portability).
 * Closing an account erases its profile, so these go with it, in the same transaction, however
 * the account was closed (an erasure request, the console, the admin API, the CLI).
 * Implemented by src/dsr, wired in context.ts.
 */
export interface AccountCopies {
  clearWithin(trx: Kysely<DB>, accountId: string, at: string): Promise<void>;
}
