import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

/**
 * Records kept elsewhere that point at outbox messages and must outlive them (the GDPR
 * art. 19 notices: who was told, when it was delivered). Before a purge deletes messages it
 * calls `keepOutcome` in the same transaction, while the messages can still be read, so the
 * records copy what they need first.
 */
export interface DeliveryRecords {
  keepOutcome(trx: Kysely<DB>, messageIds: string[]): Promise<void>;
}
