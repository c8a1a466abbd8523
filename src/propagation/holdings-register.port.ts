import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

/** That an app was told of a change to an account by a webhook message in the outbox. */
export interface WebhookNotice {
  appKey: string;
  accountId: string;
  eventType: string;
  messageId: string;
  toldAt: string;
}

/**
 * The register of which apps hold which accounts and who was told what (GDPR art. 19), as
 * propagation needs it: implemented by src/reporting, wired in context.ts.
 */
export interface HoldingsRegister {
  /** Apps that hold the account: they reported it and have not confirmed its erasure. */
  listHolders(db: Kysely<DB>, accountId: string): Promise<string[]>;
  /** Records, in the change's transaction, that apps were told. */
  recordWebhookNotices(trx: Kysely<DB>, notices: WebhookNotice[]): Promise<void>;
}
