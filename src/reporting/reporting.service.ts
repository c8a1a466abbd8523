import type { AppPrincipal } from '../auth/principal.js';
import type { Database } from '../db/dialect.js';
import { GroupCommit } from '../db/group-commit.js';
import { listAccountStates, listMemberAccountStates } from '../directory/directory-read.service.js';
import { isCanonicalInstant } from '../validation.js';
import type { ReportedAccount } from './report-accounts.js';
import * as repo from './reporting.repository.js';

export type ReportStatus = 'closed' | 'updated';

export interface ReportAnswer {
  accountId: string;
  status: ReportStatus;
}

/**
 * Whether PD updated at `pdUpdatedAt` is newer than the app's retrieval. Both are canonical
 * text nearly always (Custos writes `toISOString`; apps send it), and canonical texts
 * compare as their instants do, without parsing 90 dates per report.
 */
function updatedSince(pdUpdatedAt: string, retrieved: ReportedAccount): boolean {
  if (isCanonicalInstant(pdUpdatedAt) && isCanonicalInstant(retrieved.retrievedAt))
    return pdUpdatedAt > retrieved.retrievedAt;
  return Date.parse(pdUpdatedAt) > retrieved.retrievedMs;
}

/**
 * Personal data reporting (docs/wire-contracts.md#personal-data-reporting). What an app may learn
 * is bounded by the sites it is installed on: an account that is not a member of one of them, or
 * that does not exist, gets no status at all and is not recorded as a holding, so the answer is the
 * same for "unknown" and "not yours" and never reveals whether an account exists.
 */
export class ReportingService {
  /**
   * Register writes by group commit: concurrent reports (the official helper sends its
   * chunks at once) share one transaction. Not fsynced on SQLite: the register is rebuilt
   * by the next report, and a closure notice is also on record from its webhook.
   */
  private readonly register: GroupCommit<repo.ReportRecord>;

  constructor(private readonly database: Database) {
    this.register = new GroupCommit(database, repo.recordReports, undefined, { durable: false });
  }

  async report(app: AppPrincipal, reported: ReportedAccount[]): Promise<ReportAnswer[]> {
    const ids = reported.map((r) => r.accountId);
    const db = this.database.db;
    // One indexed query: the hot path is O(accounts in the request), whatever the directory size.
    const states = await listMemberAccountStates(db, ids, app.siteIds);
    const byId = new Map(states.map((s) => [s.accountId, s]));
    // One exception, for erasure (GDPR art. 17(2)): an app that holds an account which has
    // since closed and left its sites is still told `closed`; it already knows the id.
    const others = ids.filter((id) => !byId.has(id));
    const held = await repo.findHeldAccountIds(db, app.appKey, others);
    for (const s of await listAccountStates(db, held)) if (s.closed) byId.set(s.accountId, s);
    const answers: ReportAnswer[] = [];
    const holdings: repo.HoldingReport[] = [];
    for (const r of reported) {
      const state = byId.get(r.accountId);
      if (!state) continue;
      holdings.push({ accountId: r.accountId, retrievedAt: r.retrievedAt });
      if (state.closed) answers.push({ accountId: r.accountId, status: 'closed' });
      else if (updatedSince(state.pdUpdatedAt, r))
        answers.push({ accountId: r.accountId, status: 'updated' });
    }
    await this.register.enqueue({
      appKey: app.appKey,
      holdings,
      closed: answers.filter((a) => a.status === 'closed').map((a) => a.accountId),
    });
    return answers;
  }

  /** Waits for register writes still in flight (graceful stop). */
  drain(): Promise<void> {
    return this.register.drain();
  }

  /**
   * An app confirms it erased these accounts' data; it stops holding them. Accounts it
   * can see, or holds (an app uninstalled since still holds what it reported), count;
   * others are ignored without saying so, as in reports.
   */
  async confirmErasure(app: AppPrincipal, accountIds: string[]): Promise<void> {
    const db = this.database.db;
    const visible = await listMemberAccountStates(db, accountIds, app.siteIds);
    const held = await repo.findHeldAccountIds(db, app.appKey, accountIds);
    const ids = [...new Set([...visible.map((v) => v.accountId), ...held])];
    if (ids.length === 0) return;
    const now = new Date().toISOString();
    await this.database.writeTransaction((trx) => repo.confirmErasures(trx, app.appKey, ids, now));
  }
}
