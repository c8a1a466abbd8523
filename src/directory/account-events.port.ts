import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

export type AccountEventType = 'account.closed' | 'account.updated';
export type LifecycleEventType = 'app.installed' | 'app.uninstalled';

export interface InstallationRef {
  id: string;
  appKey: string;
  siteId: string;
  clientKey: string;
}

/**
 * How the directory tells apps of its changes: implemented by src/propagation, wired in
 * context.ts. Both run inside the transaction of the change, so what apps are told exists
 * exactly when the change does.
 */
export interface AccountEvents {
  /** An account closed or its PD changed; returns how many apps are told. */
  announceAccountEvent(
    trx: Kysely<DB>,
    accountId: string,
    type: AccountEventType,
    at: string,
  ): Promise<number>;
  /** An app was installed on a site or uninstalled from it. */
  announceLifecycleEvent(
    trx: Kysely<DB>,
    installation: InstallationRef,
    type: LifecycleEventType,
    at: string,
  ): Promise<void>;
}
