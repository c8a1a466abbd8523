import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
} from 'rate-limiter-flexible';
import type { AuditLog } from '../audit/audit.service.js';
import type { AppPrincipal } from '../auth/principal.js';
import { sha256Hex } from '../crypto/digest.js';
import { type Database, isUniqueViolation } from '../db/dialect.js';
import {
  findAccount,
  listAppNames,
  listInstallationsSeeing,
  listInstalledSiteIds,
  listMemberAccounts,
} from '../directory/directory-read.service.js';
import { AppError } from '../errors/app-error.js';
import type { JobService } from '../jobs/job.service.js';
import type { Mailer } from '../mail/mailer.js';
import {
  type AppChoices,
  mayNotify,
  quotaDay,
  type RecipientState,
  WHOLE_APP,
  wireState,
} from './notification.model.js';
import * as repo from './notification.repository.js';
import type { NotificationRequest, NotificationStatus } from './notification.schemas.js';
import { type NotificationContent, renderNotificationMail } from './notification-mail.js';
import { signUnsubscribe, type UnsubscribeTarget, verifyUnsubscribe } from './unsubscribe-token.js';

export const DELIVER_JOB = 'notifications.deliver';
/** Mails in flight at once per delivery run: one SMTP connection each. */
const SEND_CONCURRENCY = 8;
export const UNSUBSCRIBE_PATH = '/notifications/unsubscribe';
export const SETTINGS_PATH = '/privacy/notifications';

export interface RelaySettings {
  /** CUSTOS_PUBLIC_URL: the base of the links in the mails. Without it (or mail), the relay is off. */
  publicUrl: string | undefined;
  dailyQuota: number;
  rateLimit: number;
  rateWindowMs: number;
  /** Shared counters when several processes run. */
  redis: Redis | undefined;
  redisPrefix: string;
}

function unsubscribeUrl(publicUrl: string | undefined, key: Buffer, target: UnsubscribeTarget): string {
  return `${publicUrl ?? ''}${UNSUBSCRIBE_PATH}?t=${signUnsubscribe(key, target)}`;
}

function notFound(): AppError {
  return new AppError('NOT_FOUND', 'No such notification', { field: 'id' });
}

/** SHA-256 of what a request asks for, so that a repeated idempotency key can be checked against it. */
function requestHash(body: NotificationRequest, accountIds: string[]): string {
  const content = [[...accountIds].sort(), body.subject, body.text, body.html ?? null, body.category];
  return sha256Hex(JSON.stringify(content));
}

/**
 * Delivery: the job `notifications.deliver` decides every pending recipient of a notification
 * at once (not a member of the app's sites now → unknown; turned off, closed or without an
 * address → suppressed), then mails the rest one at a time, each marked sent (and audited)
 * as soon as the mail server accepted it. A retry only mails those still pending: a mail is
 * sent twice only if the process dies between the server's acceptance and that commit.
 */
export class NotificationDelivery {
  constructor(
    private readonly database: Database,
    private readonly audit: AuditLog,
    private readonly mailer: Mailer,
    private readonly unsubscribeKey: Buffer,
    private readonly publicUrl: string | undefined,
  ) {}

  unsubscribeUrl(target: UnsubscribeTarget): string {
    return unsubscribeUrl(this.publicUrl, this.unsubscribeKey, target);
  }

  /** Mails one recipient and records it; false when the mail server did not accept it. */
  private async sendOne(
    notification: { id: string; app_key: string; category: string },
    content: NotificationContent,
    recipient: { accountId: string; email: string },
  ): Promise<boolean> {
    const appKey = notification.app_key;
    const mail = renderNotificationMail(content, {
      unsubscribe: this.unsubscribeUrl({ accountId: recipient.accountId, appKey }),
      settings: `${this.publicUrl ?? ''}${SETTINGS_PATH}`,
    });
    try {
      await this.mailer.send({ to: recipient.email, ...mail });
    } catch {
      // The server's message may quote the address: it is neither kept nor logged.
      return false;
    }
    await this.database.writeTransaction(async (trx) => {
      await repo.setRecipientStates(
        trx,
        notification.id,
        [recipient.accountId],
        'sent',
        new Date().toISOString(),
      );
      await this.audit.appendWithin(trx, [
        {
          actor: { type: 'app', id: appKey },
          action: 'notification.sent',
          appKey,
          accountId: recipient.accountId,
          details: { notificationId: notification.id, category: notification.category },
        },
      ]);
    });
    return true;
  }

  async deliver(
    notificationId: string,
    signal: AbortSignal,
    lastAttempt: boolean,
  ): Promise<Record<string, number>> {
    const db = this.database.db;
    const notification = await repo.findNotification(db, notificationId);
    if (!notification) return { sent: 0 };
    const pending = (await repo.listRecipients(db, notificationId, 'pending')).map((r) => r.account_id);
    if (pending.length === 0) return { sent: 0 };
    const appKey = notification.app_key;
    const asked = new Set(JSON.parse(notification.site_ids) as string[]);
    const sites = (await listInstalledSiteIds(db, appKey)).filter((site) => asked.has(site));
    const members = new Map(
      (await listMemberAccounts(db, pending, sites)).map((account) => [account.accountId, account]),
    );
    const choices = new Map<string, Map<string, boolean>>();
    for (const row of await repo.listPreferences(db, pending, appKey)) {
      const of = choices.get(row.account_id) ?? new Map<string, boolean>();
      of.set(row.category, row.enabled === 1);
      choices.set(row.account_id, of);
    }
    const unknown: string[] = [];
    const suppressed: string[] = [];
    const toSend: { accountId: string; email: string }[] = [];
    for (const accountId of pending) {
      const account = members.get(accountId);
      if (!account) unknown.push(accountId);
      else if (
        !account.active ||
        !account.profile.email ||
        !mayNotify(choices.get(accountId), notification.category)
      )
        suppressed.push(accountId);
      else toSend.push({ accountId, email: account.profile.email });
    }
    const decidedAt = new Date().toISOString();
    await this.database.writeTransaction(async (trx) => {
      await repo.setRecipientStates(trx, notificationId, unknown, 'unknown', decidedAt);
      await repo.setRecipientStates(trx, notificationId, suppressed, 'suppressed', decidedAt);
    });

    const appName = (await listAppNames(db, [appKey])).get(appKey) ?? appKey;
    const content = {
      appName,
      subject: notification.subject,
      text: notification.text_body,
      html: notification.html_body,
    };
    let sent = 0;
    const refused: string[] = [];
    const queue = [...toSend];
    const sendNext = async (): Promise<void> => {
      for (let recipient = queue.shift(); recipient && !signal.aborted; recipient = queue.shift()) {
        if (await this.sendOne(notification, content, recipient)) sent += 1;
        else refused.push(recipient.accountId);
      }
    };
    await Promise.all(Array.from({ length: Math.min(SEND_CONCURRENCY, queue.length) }, sendNext));
    if (refused.length > 0) {
      if (lastAttempt) {
        await repo.setRecipientStates(
          this.database.db,
          notificationId,
          refused,
          'failed',
          new Date().toISOString(),
        );
      } else {
        throw new Error(`the mail server did not accept ${refused.length} of ${toSend.length} mails`);
      }
    }
    return {
      sent,
      suppressed: suppressed.length,
      unknown: unknown.length,
      failed: lastAttempt ? refused.length : 0,
    };
  }
}

export interface PersonAppChoices {
  appKey: string;
  appName: string;
  enabled: boolean;
  categories: { category: string; enabled: boolean }[];
}

export interface AppVolume {
  appKey: string;
  appName: string;
  requests: number;
  recipients: number;
  sent: number;
  suppressed: number;
  unknown: number;
  pending: number;
  failed: number;
}

/**
 * The notification relay (docs/notifications.md): apps ask Custos to mail people by account
 * id and never see an address; each person decides per app and per category, and can stop an
 * app from any of its mails with one click.
 */
export class NotificationRelay {
  private readonly limiter: RateLimiterAbstract;

  constructor(
    private readonly database: Database,
    private readonly audit: AuditLog,
    private readonly mailer: Mailer,
    private readonly jobs: JobService,
    private readonly unsubscribeKey: Buffer,
    private readonly settings: RelaySettings,
    private readonly poke: () => void,
  ) {
    const keyPrefix = `${settings.redisPrefix}notify-rate`;
    const memory = new RateLimiterMemory({
      keyPrefix,
      points: settings.rateLimit,
      duration: Math.max(1, Math.round(settings.rateWindowMs / 1000)),
    });
    this.limiter = settings.redis
      ? new RateLimiterRedis({
          storeClient: settings.redis,
          keyPrefix,
          points: settings.rateLimit,
          duration: Math.max(1, Math.round(settings.rateWindowMs / 1000)),
          rejectIfRedisNotReady: true,
          insuranceLimiter: memory,
        })
      : memory;
  }

  /** The one-click unsubscribe URL a mail to this person from this app carries. */
  unsubscribeUrl(target: UnsubscribeTarget): string {
    return unsubscribeUrl(this.settings.publicUrl, this.unsubscribeKey, target);
  }

  get available(): boolean {
    return this.mailer.enabled && this.settings.publicUrl !== undefined;
  }

  private async takeRequest(appKey: string): Promise<void> {
    try {
      await this.limiter.consume(appKey);
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      throw new AppError(
        'RATE_LIMITED',
        'Too many notification requests: retry after the Retry-After delay',
        {
          headers: { 'Retry-After': String(Math.max(1, Math.ceil(rejection.msBeforeNext / 1000))) },
        },
      );
    }
  }

  /** Accepts a notification for delivery; a repeated idempotency key answers the first one's id. */
  async request(app: AppPrincipal, body: NotificationRequest): Promise<{ id: string }> {
    if (!this.available)
      throw new AppError(
        'UNAVAILABLE',
        'The notification relay is not available: the operator has not configured mail and a public URL',
      );
    await this.takeRequest(app.appKey);
    const accountIds = [...new Set(body.accountIds)];
    const hash = requestHash(body, accountIds);
    const existing = async () => {
      const found = await repo.findNotificationByKey(this.database.db, app.appKey, body.idempotencyKey);
      if (found && found.request_hash !== hash)
        throw new AppError('CONFLICT', 'This idempotencyKey was used for a different notification', {
          field: 'idempotencyKey',
        });
      return found && { id: found.id };
    };
    const repeated = await existing();
    if (repeated) return repeated;
    const id = randomUUID();
    const now = new Date();
    try {
      await this.database.writeTransaction(async (trx) => {
        const { day, secondsLeft } = quotaDay(now);
        const used = await repo.addQuotaUse(trx, app.appKey, day, accountIds.length);
        if (used > this.settings.dailyQuota)
          throw new AppError(
            'RATE_LIMITED',
            `The app's daily quota of ${this.settings.dailyQuota} recipients is used up: retry after the Retry-After delay`,
            { field: 'accountIds', headers: { 'Retry-After': String(secondsLeft) } },
          );
        await repo.insertNotification(
          trx,
          {
            id,
            app_key: app.appKey,
            idempotency_key: body.idempotencyKey,
            request_hash: hash,
            category: body.category,
            subject: body.subject,
            text_body: body.text,
            html_body: body.html ?? null,
            site_ids: JSON.stringify(app.siteIds),
            recipient_count: accountIds.length,
            created_at: now.toISOString(),
          },
          accountIds,
        );
        await this.jobs.enqueue(trx, DELIVER_JOB, { notificationId: id }, { key: id });
        await this.audit.appendWithin(trx, [
          {
            actor: { type: 'app', id: app.appKey },
            action: 'notification.requested',
            appKey: app.appKey,
            ...(app.installationId ? { installationId: app.installationId } : {}),
            details: {
              notificationId: id,
              category: body.category,
              recipients: accountIds.length,
              via: app.via,
              ...(app.oauthClientId ? { oauthClientId: app.oauthClientId } : {}),
            },
          },
        ]);
      });
    } catch (error) {
      // The same key at the same time from two requests: the first one's id.
      if (isUniqueViolation(error)) {
        const first = await existing();
        if (first) return first;
      }
      throw error;
    }
    this.poke();
    return { id };
  }

  /** Each recipient's state, as the app may know it. Another app's notification is not found. */
  async status(app: AppPrincipal, id: string): Promise<NotificationStatus> {
    const notification = await repo.findNotification(this.database.db, id);
    if (!notification || notification.app_key !== app.appKey) throw notFound();
    const recipients = await repo.listRecipients(this.database.db, id);
    return {
      id,
      category: notification.category,
      createdAt: notification.created_at,
      recipients: recipients.map((r) => ({
        accountId: r.account_id,
        state: wireState(r.state as RecipientState),
      })),
    };
  }

  /** The apps that can notify this person (installed on a site they are a member of), with their choices. */
  async listChoices(accountId: string): Promise<PersonAppChoices[]> {
    const db = this.database.db;
    const [installations, preferences, sentCategories] = await Promise.all([
      listInstallationsSeeing(db, accountId),
      repo.listPreferencesOf(db, accountId),
      repo.listCategoriesSentTo(db, accountId),
    ]);
    const appKeys = new Set(installations.map((i) => i.appKey));
    const names = await listAppNames(db, [...appKeys]);
    const choices = new Map<string, Map<string, boolean>>();
    for (const row of preferences) {
      const of = choices.get(row.app_key) ?? new Map<string, boolean>();
      of.set(row.category, row.enabled === 1);
      choices.set(row.app_key, of);
    }
    const categories = new Map<string, Set<string>>();
    const addCategory = (appKey: string, category: string) => {
      if (category === WHOLE_APP) return;
      const set = categories.get(appKey) ?? new Set<string>();
      set.add(category);
      categories.set(appKey, set);
    };
    for (const row of sentCategories) addCategory(row.app_key, row.category);
    for (const row of preferences) addCategory(row.app_key, row.category);
    return [...appKeys]
      .filter((key) => names.has(key))
      .map((appKey) => {
        const of: AppChoices = choices.get(appKey) ?? new Map();
        return {
          appKey,
          appName: names.get(appKey) as string,
          enabled: of.get(WHOLE_APP) !== false,
          categories: [...(categories.get(appKey) ?? [])]
            .sort()
            .map((category) => ({ category, enabled: of.get(category) !== false })),
        };
      })
      .sort((a, b) => a.appName.localeCompare(b.appName) || a.appKey.localeCompare(b.appKey));
  }

  /**
   * Saves a person's choices for one app: on or off as a whole, and each category listed in
   * `shown` on when it is in `enabled`. Only apps that can notify the person can be chosen.
   */
  async setChoices(
    accountId: string,
    input: { appKey: string; enabled: boolean; shown: string[]; enabledCategories: string[] },
  ): Promise<PersonAppChoices> {
    const current = (await this.listChoices(accountId)).find((c) => c.appKey === input.appKey);
    if (!current)
      throw new AppError('NOT_FOUND', 'No such app among those that can notify you', { field: 'appKey' });
    const known = new Set(current.categories.map((c) => c.category));
    const on = new Set(input.enabledCategories);
    const changes = [
      { category: WHOLE_APP, enabled: input.enabled },
      ...input.shown.filter((c) => known.has(c)).map((category) => ({ category, enabled: on.has(category) })),
    ];
    await this.database.writeTransaction(async (trx) => {
      await repo.upsertPreferences(trx, accountId, input.appKey, changes, new Date().toISOString());
      await this.audit.appendWithin(trx, [
        {
          actor: { type: 'account', id: accountId },
          action: 'notification.preferences-changed',
          appKey: input.appKey,
          accountId,
          details: {
            enabled: input.enabled,
            categoriesOff: changes.filter((c) => c.category !== WHOLE_APP && !c.enabled).length,
            via: 'privacy-centre',
          },
        },
      ]);
    });
    return (await this.listChoices(accountId)).find((c) => c.appKey === input.appKey) as PersonAppChoices;
  }

  /** What an unsubscribe link is for: the app's name and whether it may still notify the person. */
  async describeUnsubscribe(token: string): Promise<{ appName: string; enabled: boolean } | undefined> {
    const target = verifyUnsubscribe(this.unsubscribeKey, token);
    if (!target) return undefined;
    const db = this.database.db;
    const appName = (await listAppNames(db, [target.appKey])).get(target.appKey) ?? target.appKey;
    const whole = (await repo.listPreferences(db, [target.accountId], target.appKey)).find(
      (p) => p.category === WHOLE_APP,
    );
    return { appName, enabled: whole?.enabled !== 0 };
  }

  /** Turns the app off for the person the signed link names; no sign-in needed (RFC 8058). */
  async unsubscribe(token: string, via: 'one-click' | 'confirm-page'): Promise<void> {
    const target = verifyUnsubscribe(this.unsubscribeKey, token);
    if (!target) throw new AppError('NOT_FOUND', 'This unsubscribe link is not valid', { field: 't' });
    try {
      await this.database.writeTransaction(async (trx) => {
        await repo.upsertPreferences(
          trx,
          target.accountId,
          target.appKey,
          [{ category: WHOLE_APP, enabled: false }],
          new Date().toISOString(),
        );
        await this.audit.appendWithin(trx, [
          {
            actor: { type: 'account', id: target.accountId },
            action: 'notification.preferences-changed',
            appKey: target.appKey,
            accountId: target.accountId,
            details: { enabled: false, via },
          },
        ]);
      });
    } catch (error) {
      // The account is gone (erased): there is nobody left to mail, which is what was asked.
      if (!(await this.accountExists(target.accountId))) return;
      throw error;
    }
  }

  private async accountExists(accountId: string): Promise<boolean> {
    return (await findAccount(this.database.db, accountId)) !== undefined;
  }

  /** Per app, the notifications asked for in the last `days` days and what became of their recipients. */
  async volume(days: number): Promise<AppVolume[]> {
    const db = this.database.db;
    const since = new Date(Date.now() - days * 86_400_000).toISOString();
    const [requests, states] = await Promise.all([
      repo.countNotificationsByApp(db, since),
      repo.countRecipientsByApp(db, since),
    ]);
    const names = await listAppNames(
      db,
      requests.map((r) => r.app_key),
    );
    const byApp = new Map<string, AppVolume>();
    for (const r of requests) {
      byApp.set(r.app_key, {
        appKey: r.app_key,
        appName: names.get(r.app_key) ?? r.app_key,
        requests: Number(r.count),
        recipients: 0,
        sent: 0,
        suppressed: 0,
        unknown: 0,
        pending: 0,
        failed: 0,
      });
    }
    for (const s of states) {
      const volume = byApp.get(s.app_key);
      if (!volume) continue;
      const count = Number(s.count);
      volume.recipients += count;
      const state = s.state as RecipientState;
      volume[state] += count;
    }
    return [...byApp.values()].sort(
      (a, b) => b.recipients - a.recipients || a.appKey.localeCompare(b.appKey),
    );
  }
}
