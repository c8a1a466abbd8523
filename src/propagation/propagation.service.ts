import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { PreferenceEvents, PreferencesChange } from '../consent/preference-events.port.js';
import type { DB } from '../db/schema.js';
import type {
  AccountEvents,
  AccountEventType,
  InstallationRef,
  LifecycleEventType,
} from '../directory/account-events.port.js';
import { listAppKeysWithWebhook, listInstallationsSeeing } from '../directory/directory-read.service.js';
import { enqueueWebhooks, type OutgoingMessage } from '../webhooks/webhook-dispatcher.js';
import type { HoldingsRegister } from './holdings-register.port.js';

const eventId = () => `evt_${randomUUID().replaceAll('-', '')}`;

/**
 * Tells apps of changes to the directory, as webhook messages in the outbox with, for account
 * events, a notice per app in the holdings register (the art. 19 record). Runs inside the
 * transaction of the change, so the messages and the notices exist exactly when the change
 * does. Payloads are thin: ids and a time, never PD; each app sees only the sites it is
 * installed on.
 */
export class AccountEventPropagation implements AccountEvents, PreferenceEvents {
  constructor(private readonly register: HoldingsRegister) {}

  /**
   * Tells every app that holds the account, or is installed on a site where it is a member,
   * that it closed or changed (GDPR art. 17(2) and 19: the request to be forgotten reaches
   * every app storing the data). Only apps with a webhook endpoint can be told.
   */
  announceAccountEvent(
    trx: Kysely<DB>,
    accountId: string,
    type: AccountEventType,
    at: string,
  ): Promise<number> {
    return this.announce(trx, accountId, type, at, {});
  }

  /**
   * Tells the same apps that the person's privacy preferences changed (a Global Privacy
   * Control opt-out of sale or sharing): the flag is what the app must act on, so it travels.
   */
  announcePreferencesChanged(trx: Kysely<DB>, change: PreferencesChange): Promise<number> {
    return this.announce(trx, change.accountId, 'account.preferences-changed', change.at, {
      preferences: { doNotSellOrShare: change.doNotSellOrShare },
    });
  }

  private async announce(
    trx: Kysely<DB>,
    accountId: string,
    type: AccountEventType | 'account.preferences-changed',
    at: string,
    extra: Record<string, unknown>,
  ): Promise<number> {
    const holders = await this.register.listHolders(trx, accountId);
    const seeing = await listInstallationsSeeing(trx, accountId);
    const appKeys = await listAppKeysWithWebhook(trx, [
      ...new Set([...holders, ...seeing.map((i) => i.appKey)]),
    ]);
    if (appKeys.length === 0) return 0;
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
          siteIds: seeing.filter((i) => i.appKey === appKey).map((i) => i.siteId),
          ...extra,
        },
      },
    }));
    const messageIds = await enqueueWebhooks(trx, messages, new Date(at));
    await this.register.recordWebhookNotices(
      trx,
      appKeys.map((appKey, i) => ({
        appKey,
        accountId,
        eventType: type,
        messageId: messageIds[i] as string,
        toldAt: at,
      })),
    );
    return appKeys.length;
  }

  /** Lifecycle notices to the app itself, if it has an endpoint: ids only, no PD, no secrets. */
  async announceLifecycleEvent(
    trx: Kysely<DB>,
    installation: InstallationRef,
    type: LifecycleEventType,
    at: string,
  ): Promise<void> {
    if ((await listAppKeysWithWebhook(trx, [installation.appKey])).length === 0) return;
    await enqueueWebhooks(
      trx,
      [
        {
          appKey: installation.appKey,
          eventType: type,
          orderingKey: `installation:${installation.id}`,
          payload: {
            id: eventId(),
            type,
            timestamp: at,
            data: {
              appKey: installation.appKey,
              installationId: installation.id,
              clientKey: installation.clientKey,
              siteId: installation.siteId,
            },
          },
        },
      ],
      new Date(at),
    );
  }
}
