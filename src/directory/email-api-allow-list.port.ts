import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

/**
 * The Email API allow list: the apps the access programme approved. Read on every Email API
 * call (users) and shown on an app's details (directory); implemented by src/access, wired in
 * context.ts.
 */
export interface EmailApiAllowList {
  /** Whether the app is approved now; `db` reads inside the caller's transaction. */
  isApproved(appKey: string, db?: Kysely<DB>): Promise<boolean>;
}
