import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import {
  findActiveInstallationsOn,
  findAppsConcerned,
  findMemberSiteIds,
  insertNotices,
} from '../reporting/reporting.repository.js';
import { enqueueWebhooks, type OutgoingMessage } from '../webhooks/webhook-dispatcher.js';

export type AccountEventType = 'account.closed' | 'account.updated';
export type LifecycleEventType = 'app.installed' | 'app.uninstalled';

const eventId = () => `evt_${randomUUID().replaceAll('-', '')}`;

/**
 * Tells every app that holds the account, or is installed on a site where it is a member,
 * that it closed or changed (seed 000: the request to be forgotten is passed to every app
 * storing the data). Runs inside the transaction of the change, so the outbox messages and
 * the art. 19 notices exist exactly when the change does. Payloads are thin: ids and a
 * time, never PD; each app sees only the sites it is installed on.
 */
export async function announceAccountEvent(
  trx: Kysely<DB>,
  accountId: string,
  type: AccountEventType,
  at: string,
): Promise<number> {
  const appKeys = await findAppsConcerned(trx, accountId);
  if (appKeys.length === 0) return 0;
  const memberSites = await findMemberSiteIds(trx, accountId);
  const installed = await findActiveInstallationsOn(trx, appKeys, memberSites);
  const id = eventId();
  const messages: OutgoingMessage[] = appKeys.map((appKey) => ({
    appKey,
    eventType: type,
    // Per account, in order: an app must not see "updated" after "closed".
    orderingKey: `account:${accountId}`,
    payload: {
      id,
      type,
      timestamp: at,
      data: {
        accountId,
        siteIds: installed.filter((i) => i.app_key === appKey).map((i) => i.site_id),
      },
    },
  }));
  const messageIds = await enqueueWebhooks(trx, messages, new Date(at));
  await insertNotices(
    trx,
    appKeys.map((appKey, i) => ({
      id: messageIds[i] as string,
      app_key: appKey,
      account_id: accountId,
      event_type: type,
      channel: 'webhook',
      message_id: messageIds[i] as string,
      told_at: at,
    })),
  );
  return appKeys.length;
}

export interface InstallationRef {
  id: string;
  app_key: string;
  site_id: string;
  client_key: string;
}

/** Lifecycle notices to the app itself, if it has an endpoint: ids only, no PD, no secrets. */
export async function announceLifecycleEvent(
  trx: Kysely<DB>,
  installation: InstallationRef,
  type: LifecycleEventType,
  at: string,
): Promise<void> {
  const app = await trx
    .selectFrom('apps')
    .select('webhook_url')
    .where('key', '=', installation.app_key)
    .executeTakeFirst();
  if (!app?.webhook_url) return;
  await enqueueWebhooks(
    trx,
    [
      {
        appKey: installation.app_key,
        eventType: type,
        orderingKey: `installation:${installation.id}`,
        payload: {
          id: eventId(),
          type,
          timestamp: at,
          data: {
            appKey: installation.app_key,
            installationId: installation.id,
            clientKey: installation.client_key,
            siteId: installation.site_id,
          },
        },
      },
    ],
    new Date(at),
  );
}
