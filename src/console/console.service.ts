import { onlyAlertUseCases } from '../access/access.model.js';
import type { AccessProgramme } from '../access/access.service.js';
import type { AuditActor } from '../audit/audit.service.js';
import type { AuditCheckpoints } from '../audit/checkpoint.service.js';
import type { Database } from '../db/dialect.js';
import type { DirectoryService } from '../directory/directory.service.js';
import { findOrganizationName } from '../directory/directory-read.service.js';
import type { ComplianceService } from '../reporting/compliance.service.js';
import { normalizeEmail } from '../shared/email.js';
import * as repo from './console.repository.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Rows per page of every console list. */
export const PAGE_SIZE = 50;

/** How many entries "verify chain" walks from the console; longer logs: `custos audit verify`. */
export const CONSOLE_VERIFY_LIMIT = 200_000;

export interface ConsoleOptions {
  /** CUSTOS_ACCESS_REVIEW_SLA_HOURS: requests in review longer than this are overdue. */
  reviewSlaHours: number | undefined;
  /** CUSTOS_REPORT_CYCLE_DAYS: a holding not reported again within it is overdue. */
  reportCycleDays: number;
}

/** "3 d 4 h", "5 h", "12 min": how long something has waited, for people. */
export function ageOf(since: string, now: Date): string {
  const ms = Math.max(0, now.getTime() - Date.parse(since));
  const days = Math.floor(ms / DAY);
  const hours = Math.floor((ms % DAY) / HOUR);
  if (days > 0) return hours > 0 ? `${days} d ${hours} h` : `${days} d`;
  if (hours > 0) return `${hours} h`;
  return `${Math.floor(ms / 60_000)} min`;
}

/**
 * What the console shows: the views behind its pages, each built from keyset-paged reads of
 * the columns shown. The console's actions are not here: each calls the service method its
 * admin API and CLI twins call (AccessProgramme, DirectoryService, …), with the signed-in
 * operator as the audit actor.
 */
export class ConsoleService {
  constructor(
    private readonly database: Database,
    private readonly services: {
      access: AccessProgramme;
      directory: DirectoryService;
      compliance: ComplianceService;
      checkpoints: AuditCheckpoints;
    },
    private readonly options: ConsoleOptions,
  ) {}

  get reviewSlaHours(): number | undefined {
    return this.options.reviewSlaHours;
  }

  private overdueBefore(now: Date): string | undefined {
    const sla = this.options.reviewSlaHours;
    return sla === undefined ? undefined : new Date(now.getTime() - sla * HOUR).toISOString();
  }

  /** Requests in review, and how many of them are past the review SLA (0 without one): /metrics reads it. */
  async reviewCounts(now = new Date()): Promise<{ inReview: number; overdue: number }> {
    const db = this.database.db;
    const before = this.overdueBefore(now);
    const [inReview, overdue] = await Promise.all([
      repo.countInReview(db),
      before === undefined ? Promise.resolve(0) : repo.countInReview(db, before),
    ]);
    return { inReview, overdue };
  }

  async home(now = new Date()) {
    const [review, deadLetters, apps] = await Promise.all([
      this.reviewCounts(now),
      repo.countDeadLetters(this.database.db),
      this.services.compliance.listApps(now),
    ]);
    const appsOverdue = apps.filter((a) => a.state === 'overdue' || a.state === 'never-reported').length;
    return { ...review, deadLetters, appsOverdue, slaHours: this.options.reviewSlaHours };
  }

  /** The review queue, oldest first, each request with what the reviewer checks. */
  async reviewQueue(afterSeq: number, now = new Date()) {
    const db = this.database.db;
    const rows = await repo.listInReview(db, afterSeq, PAGE_SIZE);
    const [apps, useCases] = await Promise.all([
      repo.listAppPrerequisites(db, [...new Set(rows.map((r) => r.app_key))]),
      this.services.access.useCases(),
    ]);
    const appByKey = new Map(apps.map((a) => [a.key, a]));
    const useCaseById = new Map(useCases.map((u) => [u.id, u]));
    const before = this.overdueBefore(now);
    const requests = rows.map((r) => {
      const app = appByKey.get(r.app_key);
      return {
        id: r.id,
        appKey: r.app_key,
        appName: r.app_name,
        companyName: r.company_name,
        submittedAt: r.submitted_at,
        age: ageOf(r.submitted_at, now),
        overdue: before !== undefined && r.submitted_at < before,
        listingUrl: r.listing_url,
        description: r.description,
        privacyPolicyExcerpt: r.privacy_policy_excerpt,
        reason: r.reason,
        // An app that wants addresses only to send alerts can use the notification relay instead.
        onlyAlerts: onlyAlertUseCases(JSON.parse(r.use_cases) as string[]),
        useCases: (JSON.parse(r.use_cases) as string[]).map((id) => ({
          id,
          functionality: useCaseById.get(id)?.functionality ?? id,
          decision: useCaseById.get(id)?.decision ?? 'review',
        })),
        prerequisites: {
          privacyPolicyUrl: r.privacy_policy_url,
          termsUrl: r.terms_url,
          storesPersonalData: r.stores_personal_data === 1,
          reportingCheck: r.reporting_check,
          // The app as registered in the directory, beside what the vendor wrote in the request.
          registeredPolicyUrl: app?.privacy_policy_url ?? null,
          registeredTermsUrl: app?.terms_url ?? null,
          lastReportedAt: app?.last_reported_at ?? null,
        },
      };
    });
    const last = rows.at(-1);
    return { requests, nextAfter: rows.length === PAGE_SIZE && last ? last.seq : null };
  }

  async decided(beforeSeq: number | undefined) {
    const rows = await repo.listDecided(this.database.db, beforeSeq, PAGE_SIZE);
    const last = rows.at(-1);
    return {
      decisions: rows.map((r) => ({
        id: r.id,
        appKey: r.app_key,
        appName: r.app_name,
        status: r.status,
        reason: r.reason,
        by: r.revoked_by ?? r.decided_by,
        at: r.revoked_at ?? r.decided_at ?? r.updated_at,
      })),
      nextBefore: rows.length === PAGE_SIZE && last ? last.seq : null,
    };
  }

  grantedApps() {
    return repo.listGrantedApps(this.database.db);
  }

  async auditEntries(filter: Omit<repo.AuditFilter, 'limit'>) {
    const rows = await repo.listAuditEntries(this.database.db, { ...filter, limit: PAGE_SIZE });
    const last = rows.at(-1);
    return { entries: rows, nextBefore: rows.length === PAGE_SIZE && last ? Number(last.id) : null };
  }

  /** Walks the chain from its start (bounded) and says where the latest signed checkpoint ends. */
  async verifyAudit() {
    const report = await this.services.checkpoints.verify({ limit: CONSOLE_VERIFY_LIMIT });
    const cp = report.latestCheckpoint;
    return {
      intact: !report.broken && !report.mismatch,
      complete: report.complete,
      checked: report.checked,
      lastId: report.lastId,
      broken: report.broken ? `entry ${report.broken.id}: ${report.broken.problem}` : null,
      checkpoint: cp ? { lastId: Number(cp.last_id), count: Number(cp.entry_count), at: cp.at } : null,
    };
  }

  /**
   * An account as an admin sees it: reading it is a disclosure of personal data to a person,
   * so the directory records it in the audit log, naming the operator.
   */
  async account(accountId: string, actor: AuditActor) {
    const account = await this.services.directory.viewAccount(accountId, actor);
    const { email, organizationId } = account.profile;
    const [evidence, consent, organizationName] = await Promise.all([
      this.services.compliance.accountEvidence(accountId),
      email === null
        ? Promise.resolve([])
        : repo.listConsentEvents(this.database.db, normalizeEmail(email), PAGE_SIZE),
      // People know an organization by its name; the page shows the id beside it, or alone without one.
      organizationId === null
        ? Promise.resolve(undefined)
        : findOrganizationName(this.database.db, organizationId),
    ]);
    return { account, organizationName, holders: evidence.apps, consent };
  }

  /** Every app with its Email API state, webhook health and reporting compliance. */
  async apps(now = new Date()) {
    const db = this.database.db;
    const [apps, compliance, problems, granted, inReview] = await Promise.all([
      repo.listApps(db),
      this.services.compliance.listApps(now),
      repo.countWebhookProblems(db),
      repo.listGrantedApps(db),
      repo.listAppsInReview(db),
    ]);
    const complianceOf = new Map(compliance.map((c) => [c.appKey, c]));
    const problemsOf = new Map(problems.map((p) => [p.app_key, p]));
    const grantedKeys = new Set(granted.map((g) => g.app_key));
    const reviewKeys = new Set(inReview);
    return apps.map((a) => {
      const c = complianceOf.get(a.key);
      const p = problemsOf.get(a.key);
      return {
        key: a.key,
        name: a.name,
        vendor: a.vendor,
        emailApi: grantedKeys.has(a.key) ? 'approved' : reviewKeys.has(a.key) ? 'in review' : 'not approved',
        webhook: a.webhook_url === null ? 'none' : a.webhook_disabled_at !== null ? 'disabled' : 'active',
        deadLetters: Number(p?.dead ?? 0),
        failing: Number(p?.failing ?? 0),
        reporting: c?.state ?? 'not-applicable',
        overdueAccounts: c?.overdueAccounts ?? 0,
        lastReportedAt: c?.lastReportedAt ?? null,
      };
    });
  }

  /** One app: installations and scopes (from the directory), webhook failures, overdue accounts. */
  async app(appKey: string, afterAccountId: string | undefined, now = new Date()) {
    const db = this.database.db;
    const details = await this.services.directory.showApp(appKey);
    const cutoff = new Date(now.getTime() - this.options.reportCycleDays * DAY).toISOString();
    const [state, failed, overdue, compliance] = await Promise.all([
      repo.findAppWebhookState(db, appKey),
      repo.listFailedMessages(db, appKey, PAGE_SIZE),
      repo.listOverdueHoldings(db, appKey, cutoff, afterAccountId, PAGE_SIZE),
      this.services.compliance.listApps(now),
    ]);
    const last = overdue.at(-1);
    return {
      details,
      webhookDisabledAt: state?.webhook_disabled_at ?? null,
      webhookDisabledReason: state?.webhook_disabled_reason ?? null,
      failed,
      compliance: compliance.find((c) => c.appKey === appKey),
      overdue,
      nextOverdueAfter: overdue.length === PAGE_SIZE && last ? last.account_id : null,
    };
  }
}
