import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

/** A person's privacy preferences as apps are told of them: no PD, ids and flags only. */
export interface PreferencesChange {
  accountId: string;
  doNotSellOrShare: boolean;
  at: string;
}

/**
 * How the consent domain tells the apps that hold an account that its preferences changed
 * (`account.preferences-changed`): implemented by src/propagation, wired in context.ts. Runs
 * inside the transaction of the change, so the messages exist exactly when the change does.
 */
export interface PreferenceEvents {
  announcePreferencesChanged(trx: Kysely<DB>, change: PreferencesChange): Promise<number>;
}
