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
  async announceAccountEvent(
    trx: Kysely<DB>,
    accountId: string,
    type: AccountEventType,
    at: string,
  ): Promise<number> {
    const sent = await this.announceToRecipients(trx, accountId, type, {}, at);
    if (sent.length === 0) return 0;
    await this.register.recordWebhookNotices(
      trx,
      sent.map(({ appKey, messageId }) => ({ appKey, accountId, eventType: type, messageId, toldAt: at })),
    );
    return sent.length;
  }

  /**
   * Tells the same apps that the person's privacy preferences changed (a Global Privacy
   * Control opt-out of sale or sharing): the flag is what the app must act on, so it travels.
   */
  async announcePreferencesChanged(trx: Kysely<DB>, change: PreferencesChange): Promise<number> {
    const type = 'account.preferences-changed';
    const sent = await this.announceToRecipients(
      trx,
      change.accountId,
      type,
      { preferences: { doNotSellOrShare: change.doNotSellOrShare } },
      change.at,
    );
    if (sent.length === 0) return 0;
    await this.register.recordWebhookNotices(
      trx,
      sent.map(({ appKey, messageId }) => ({
        appKey,
        accountId: change.accountId,
        eventType: type,
        messageId,
        toldAt: change.at,
      })),
    );
    return sent.length;
  }

  /**
   * The apps to tell of something about an account: those that hold it, or are installed on a
   * site where it is a member, and have a webhook endpoint.
   */
  async listRecipients(trx: Kysely<DB>, accountId: string): Promise<string[]> {
    const holders = await this.register.listHolders(trx, accountId);
    const seeing = await listInstallationsSeeing(trx, accountId);
    return listAppKeysWithWebhook(trx, [...new Set([...holders, ...seeing.map((i) => i.appKey)])]);
  }

  /**
   * Queues one message per recipient app (listRecipients) about the account, in the caller's
   * transaction, with `extra` added to each payload's data; returns each app's message id.
   * Data-subject requests use it for `account.restricted`, `account.unrestricted` and
   * `dsr.access-requested` (docs/reporting-and-webhooks.md#data-subject-requests).
   */
  async announceToRecipients(
    trx: Kysely<DB>,
    accountId: string,
    type: string,
    extra: Record<string, unknown>,
    at: string,
  ): Promise<{ appKey: string; messageId: string }[]> {
    const appKeys = await this.listRecipients(trx, accountId);
    if (appKeys.length === 0) return [];
    const seeing = await listInstallationsSeeing(trx, accountId);
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
    return appKeys.map((appKey, i) => ({ appKey, messageId: messageIds[i] as string }));
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
