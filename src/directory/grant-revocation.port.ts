import type { Kysely } from 'kysely';
import type { AuditActor } from '../audit/audit.service.js';
import type { DB } from '../db/schema.js';

/** Why the directory ended grants: what they rested on is gone. */
export type GrantRevocationReason = 'account-closed' | 'app-uninstalled' | 'client-removed';

/**
 * How the directory ends people's grants to apps when what a grant rests on goes
 * (docs/app-grants.md#when-grants-end): the person's open account, the app's OAuth client
 * with redirect URIs, an installation of the app. Implemented by src/grants, wired in
 * context.ts. Both run inside the transaction of the change, each revoked grant with its
 * audit entry, so no token outlives the change. Each returns how many grants it revoked.
 */
export interface GrantRevocation {
  /** Every grant the account gave, to any app. */
  revokeAccountGrants(trx: Kysely<DB>, accountId: string, actor: AuditActor): Promise<number>;
  /** Every grant given to the app's OAuth client `clientId`. */
  revokeClientGrants(
    trx: Kysely<DB>,
    client: { clientId: string; appKey: string },
    reason: Exclude<GrantRevocationReason, 'account-closed'>,
    actor: AuditActor,
  ): Promise<number>;
}
