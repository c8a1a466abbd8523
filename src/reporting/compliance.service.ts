import type { Kysely } from 'kysely';
import type { ReportingCompliance } from '../access/reporting-compliance.port.js';
import type { Database } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import { findAccount } from '../directory/directory-read.service.js';
import { AppError } from '../errors/app-error.js';
import type { HoldingsRegister, WebhookNotice } from '../propagation/holdings-register.port.js';
import type { DeliveryRecords } from '../webhooks/delivery-records.port.js';
import * as repo from './compliance.repository.js';
import { insertNotices } from './reporting.repository.js';

export interface AppCompliance {
  appKey: string;
  name: string;
  storesPersonalData: boolean;
  lastReportedAt: string | null;
  /** Accounts the app says it holds. */
  heldAccounts: number;
  /** Held accounts not reported again within the cycle (docs/wire-contracts.md#cycle-period). */
  overdueAccounts: number;
  /** 'never-reported': stores PD but never called report-accounts; 'overdue': a report is late. */
  state: 'ok' | 'overdue' | 'never-reported' | 'not-applicable';
}

export interface AppEvidence {
  appKey: string;
  holds: boolean;
  retrievedAt: string | null;
  reportedAt: string | null;
  /** First time the app was told of the closure, by webhook or in a report answer. */
  toldAt: string | null;
  toldBy: string[];
  /** When the closure webhook was accepted by the app's endpoint. */
  deliveredAt: string | null;
  webhookStatus: string | null;
  confirmedAt: string | null;
}

/** One app's part of the holdings register for one account, as its person sees it. */
export interface AccountHolding {
  appKey: string;
  /** It reported holding the account and has not confirmed erasing it. */
  holds: boolean;
  /** When the app last fetched the account's data (as it reported). */
  retrievedAt: string | null;
  /** When the app last reported holding it. */
  reportedAt: string | null;
  /** The latest change the app was told of: by webhook (delivered or not yet) or in a report answer. */
  lastTold: { eventType: string; at: string; channel: string; deliveredAt: string | null } | null;
  /** When the app confirmed erasing the account's data. */
  confirmedAt: string | null;
}

const min = (a: string | null, b: string | null) => (a === null ? b : b === null ? a : a < b ? a : b);

/**
 * The operator's views of the holdings register and the GDPR art. 19 evidence
 * (docs/legal-rules.md#art-19-telling-every-recipient); also the access programme's answer to "did
 * this app report within its cycle?".
 */
export class ComplianceService implements ReportingCompliance, DeliveryRecords, HoldingsRegister {
  constructor(
    private readonly database: Database,
    private readonly cycleDays: number,
  ) {}

  /**
   * Yes when the app reported within the cycle, its reports of the cycle hold at least one
   * account it can see, and no account it holds is past the cycle; no when it did not report
   * or one is overdue. Unknown for an unknown app, and for one whose reports named no account
   * it can see: a report of made-up ids shows nothing of what it holds.
   */
  async reportedWithinCycle(appKey: string, now = new Date()): Promise<'yes' | 'no' | 'unknown'> {
    const cutoff = new Date(now.getTime() - this.cycleDays * 86_400_000).toISOString();
    const row = await repo.findAppReporting(this.database.db, appKey, cutoff);
    if (!row) return 'unknown';
    const reportedInCycle = row.last_reported_at !== null && row.last_reported_at >= cutoff;
    if (!reportedInCycle || Number(row.overdue ?? 0) > 0) return 'no';
    return Number(row.current ?? 0) > 0 ? 'yes' : 'unknown';
  }

  async listApps(now = new Date()): Promise<AppCompliance[]> {
    const cutoff = new Date(now.getTime() - this.cycleDays * 86_400_000).toISOString();
    const rows = await repo.listAppCompliance(this.database.db, cutoff);
    return rows.map((r) => {
      const storesPd = r.stores_personal_data === 1;
      const overdue = Number(r.overdue);
      const lateReport = r.last_reported_at !== null && r.last_reported_at < cutoff;
      let state: AppCompliance['state'] = 'ok';
      if (r.last_reported_at === null) state = storesPd ? 'never-reported' : 'not-applicable';
      else if (overdue > 0 || (storesPd && lateReport)) state = 'overdue';
      return {
        appKey: r.key,
        name: r.name,
        storesPersonalData: storesPd,
        lastReportedAt: r.last_reported_at,
        heldAccounts: Number(r.held),
        overdueAccounts: overdue,
        state,
      };
    });
  }

  async listHolders(db: Kysely<DB>, accountId: string): Promise<string[]> {
    return (await repo.findHoldingsOfAccount(db, accountId)).map((h) => h.app_key);
  }

  /** A webhook notice is kept under its message's id: recording it again changes nothing. */
  recordWebhookNotices(trx: Kysely<DB>, notices: WebhookNotice[]): Promise<void> {
    return insertNotices(
      trx,
      notices.map((n) => ({
        id: n.messageId,
        app_key: n.appKey,
        account_id: n.accountId,
        event_type: n.eventType,
        channel: 'webhook',
        message_id: n.messageId,
        told_at: n.toldAt,
      })),
    );
  }

  /** Before outbox messages are purged: their delivery outcome stays on the art. 19 notices. */
  keepOutcome(trx: Kysely<DB>, messageIds: string[]): Promise<void> {
    return repo.copyDeliveryOutcome(trx, messageIds);
  }

  /**
   * What a person may know of the register about themselves (GDPR art. 15(1)(c): the
   * recipients of their data): per app that holds the account or was told of a change to
   * it, when it last reported holding it, the latest change it was told of, and its erasure
   * confirmation. App keys only: the caller names the apps.
   */
  async listHoldingsOfAccount(accountId: string): Promise<AccountHolding[]> {
    const db = this.database.db;
    const byApp = new Map<string, AccountHolding>();
    const entry = (appKey: string) => {
      let e = byApp.get(appKey);
      if (!e) {
        e = { appKey, holds: false, retrievedAt: null, reportedAt: null, lastTold: null, confirmedAt: null };
        byApp.set(appKey, e);
      }
      return e;
    };
    for (const h of await repo.findHoldingsOfAccount(db, accountId))
      Object.assign(entry(h.app_key), {
        holds: true,
        retrievedAt: h.retrieved_at,
        reportedAt: h.reported_at,
      });
    // Oldest first: the last one seen per app is its latest.
    for (const n of await repo.findNoticesOfAccount(db, accountId))
      entry(n.app_key).lastTold = {
        eventType: n.event_type,
        at: n.told_at,
        channel: n.channel,
        deliveredAt: n.channel === 'webhook' ? n.delivered_at : n.told_at,
      };
    for (const c of await repo.findConfirmationsOfAccount(db, accountId))
      entry(c.app_key).confirmedAt = c.confirmed_at;
    return [...byApp.values()];
  }

  /** Per app that holds, held, or was told about this account: the GDPR art. 19 record. */
  async accountEvidence(
    accountId: string,
  ): Promise<{ accountId: string; closedAt: string | null; apps: AppEvidence[] }> {
    const db = this.database.db;
    const account = await findAccount(db, accountId);
    if (!account) throw new AppError('NOT_FOUND', 'No such account', { field: 'accountId' });
    const byApp = new Map<string, AppEvidence>();
    const entry = (appKey: string) => {
      let e = byApp.get(appKey);
      if (!e) {
        e = {
          appKey,
          holds: false,
          retrievedAt: null,
          reportedAt: null,
          toldAt: null,
          toldBy: [],
          deliveredAt: null,
          webhookStatus: null,
          confirmedAt: null,
        };
        byApp.set(appKey, e);
      }
      return e;
    };
    for (const h of await repo.findHoldingsOfAccount(db, accountId))
      Object.assign(entry(h.app_key), {
        holds: true,
        retrievedAt: h.retrieved_at,
        reportedAt: h.reported_at,
      });
    for (const n of await repo.findNoticesOfAccount(db, accountId, 'account.closed')) {
      const e = entry(n.app_key);
      e.toldAt = min(e.toldAt, n.told_at);
      if (!e.toldBy.includes(n.channel)) e.toldBy.push(n.channel);
      if (n.channel === 'webhook') {
        e.deliveredAt = min(e.deliveredAt, n.delivered_at);
        e.webhookStatus = n.status;
      }
    }
    for (const c of await repo.findConfirmationsOfAccount(db, accountId))
      entry(c.app_key).confirmedAt = c.confirmed_at;
    const apps = [...byApp.values()].sort((a, b) => a.appKey.localeCompare(b.appKey));
    return { accountId, closedAt: account.closedAt, apps };
  }
}
