import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import { queryAuditLog } from '../audit/audit.query.js';
import type { AuditActor, AuditLog } from '../audit/audit.service.js';
import type { ConsentService } from '../consent/consent.service.js';
import type { Database } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import type { Profile } from '../directory/account.model.js';
import type { AccountCopies } from '../directory/account-copies.port.js';
import type { DirectoryService } from '../directory/directory.service.js';
import { findAccount } from '../directory/directory-read.service.js';
import { AppError } from '../errors/app-error.js';
import type { JobService } from '../jobs/job.service.js';
import type { Mailer } from '../mail/mailer.js';
import type { AccountEventPropagation } from '../propagation/propagation.service.js';
import type { ComplianceService } from '../reporting/compliance.service.js';
import type { SessionService } from '../sessions/session.service.js';
import type { AccountRestrictions } from '../users/account-restrictions.port.js';
import {
  CCPA_EXTENSION_DAYS,
  checkExtension,
  computeDeadlines,
  countryOfLocale,
  type DeadlineInput,
  type Deadlines,
  dateOf,
  daysLeft,
  isShortOfTime,
  type Regime,
  regimeOf,
} from './deadline.model.js';
import type { DsrRequestRow } from './dsr.repository.js';
import * as repo from './dsr.repository.js';
import {
  CANCELLABLE_STATES,
  canTransition,
  type DsrOwner,
  type DsrState,
  type DsrType,
  isFinal,
  ownerAndLimit,
} from './dsr.rules.js';
import type { DsrCalendar } from './dsr-calendar.js';

/** The job that runs Custos's own step of a request (src/dsr/dsr.jobs.ts). */
export const ADVANCE_JOB = 'dsr.advance';

export type FiledVia = 'privacy-centre' | 'console' | 'admin-api' | 'cli';

/**
 * Grants a person gave apps (three-legged OAuth). The export lists them where a grants
 * source is wired; without one the export says none are recorded.
 */
export interface GrantsSource {
  listGrants(accountId: string): Promise<Record<string, unknown>[]>;
}

export interface DsrSettings {
  calendar: DsrCalendar;
  erasureGraceMs: number;
  appMs: number;
  exportRetentionMs: number;
  linkMs: number;
  /** Signs download links of exports. */
  linkKey: Buffer;
  publicUrl: () => string;
}

export interface DsrDependencies {
  audit: AuditLog;
  directory: DirectoryService;
  consent: ConsentService;
  compliance: ComplianceService;
  propagation: AccountEventPropagation;
  sessions: SessionService;
  jobs: JobService;
  mailer: Mailer;
  grants?: GrantsSource;
}

export interface DsrView {
  id: string;
  accountId: string;
  type: DsrType;
  regime: Regime;
  state: DsrState;
  owner: DsrOwner;
  filedVia: string;
  filedBy: string;
  needsVerification: boolean;
  details: string | null;
  receivedAt: string;
  verifiedAt: string | null;
  dueOn: string | null;
  originalDueOn: string | null;
  acknowledgeBy: string | null;
  daysLeft: number | null;
  shortOfTime: boolean;
  extension: number;
  extensionUnit: 'months' | 'days';
  extensionReason: string | null;
  extendedAt: string | null;
  stateSince: string;
  stateLimitAt: string | null;
  appsDeadlineAt: string | null;
  graceUntil: string | null;
  outcomeReason: string | null;
  attentionReason: string | null;
  lastError: string | null;
  closedAt: string | null;
  cancellable: boolean;
}

export interface DsrAppView {
  appKey: string;
  event: string;
  toldAt: string | null;
  deliveredAt: string | null;
  delivery: string | null;
  answeredAt: string | null;
  confirmedAt: string | null;
}

export interface DsrTimelineEntry {
  at: string;
  actor: string;
  action: string;
  fromState: string | null;
  toState: string | null;
  note: string | null;
}

export interface DsrDetail extends DsrView {
  timeline: DsrTimelineEntry[];
  apps: DsrAppView[];
  exportAvailable: boolean;
}

const actorRef = (actor: AuditActor) => `${actor.type}:${actor.id}`;
const SYSTEM: AuditActor = { type: 'system', id: 'dsr' };
const newId = () => `dsr_${randomUUID().replaceAll('-', '')}`;
const notFound = () => new AppError('NOT_FOUND', 'No such data-subject request', { field: 'id' });

/**
 * The directory's port for the copies of a closing account's profile (account-copies.port.ts):
 * its access requests' exports and the parts apps uploaded for them.
 */
export const accountCopies: AccountCopies = { clearWithin: repo.clearExportsOfAccount };

/**
 * Data-subject requests (GDPR arts. 15–21, CCPA): filing, the deadline, the workflow's
 * transitions and Custos's own steps. Every transition writes the request, its timeline entry
 * and its audit entry in one transaction; the admin API, the CLI, the console and the privacy
 * centre all call these methods.
 */
export class DsrService implements AccountRestrictions {
  constructor(
    private readonly database: Database,
    private readonly deps: DsrDependencies,
    private readonly settings: DsrSettings,
    /** Called after a commit that queued webhooks or jobs (wakes the worker). */
    private readonly onQueued: () => void = () => {},
    private readonly now: () => Date = () => new Date(),
  ) {}

  // ── filing ────────────────────────────────────────────────────────────────────────────

  /**
   * Files a request. `signedIn`: made by the person signed in to their own account, whose
   * identity is thereby known; any other filing waits for an operator to verify it.
   */
  async file(
    input: { accountId: string; type: DsrType; details?: string; via: FiledVia; signedIn: boolean },
    actor: AuditActor,
  ): Promise<DsrView> {
    const id = newId();
    await this.database.writeTransaction(async (trx) => {
      await this.database.advisoryLock(trx, `dsr-account:${input.accountId}`);
      const account = await findAccount(trx, input.accountId);
      if (!account) throw new AppError('NOT_FOUND', 'No such account', { field: 'accountId' });
      if (!account.active) throw new AppError('CONFLICT', 'The account is closed', { field: 'accountId' });
      const open = await repo.listRequests(trx, {
        accountId: input.accountId,
        type: input.type,
        open: true,
        limit: 1,
      });
      if (open[0])
        throw new AppError(
          'CONFLICT',
          `A ${input.type} request of this account is already open (${open[0].id})`,
          {
            field: 'type',
          },
        );
      if (input.type === 'rectification' && !input.details?.trim())
        throw new AppError('VALIDATION_FAILED', 'details: say what is wrong and what it should be', {
          field: 'details',
        });
      const now = this.now().toISOString();
      const regime = regimeOf(countryOfLocale(account.profile.locale), this.settings.calendar.regimes);
      const needsVerification = !input.signedIn;
      const deadlines = computeDeadlines(
        { regime, receivedAt: now, verifiedAt: null, needsVerification, extension: 0 },
        this.settings.calendar.calendar,
      );
      const state: DsrState = needsVerification ? 'awaiting-verification' : 'in-progress';
      const { owner, limitAt } = ownerAndLimit(state, input.type, {
        since: new Date(now),
        dueAt: endOfDay(deadlines.due),
        appsDeadlineAt: null,
        graceUntil: null,
      });
      await repo.insertRequest(trx, {
        id,
        account_id: input.accountId,
        type: input.type,
        regime,
        state,
        owner,
        filed_via: input.via,
        filed_by: actorRef(actor),
        needs_verification: needsVerification ? 1 : 0,
        details: input.details?.trim() || null,
        received_at: now,
        verified_at: null,
        due_on: deadlines.due,
        original_due_on: deadlines.originalDue,
        acknowledge_by: deadlines.acknowledgeBy,
        extension: 0,
        state_since: now,
        state_limit_at: limitAt?.toISOString() ?? null,
        updated_at: now,
      });
      await this.record(trx, id, input.accountId, actor, 'filed', null, state, `via ${input.via}`, {
        type: input.type,
        regime,
      });
      // CCPA §7021(a): receipt is confirmed; Custos confirms it as it records the request.
      if (regime === 'ccpa')
        await this.record(
          trx,
          id,
          input.accountId,
          SYSTEM,
          'acknowledged',
          null,
          null,
          'receipt confirmed',
          {},
        );
      if (state === 'in-progress') await this.enqueueAdvance(trx, id, state, now);
    });
    this.onQueued();
    return this.get(id);
  }

  // ── operator actions ──────────────────────────────────────────────────────────────────

  /** An operator confirms who is asking: the GDPR clock starts now (docs/legal-rules.md#art-123-time-limit-for-answering-a-request). */
  async verify(id: string, actor: AuditActor): Promise<DsrView> {
    await this.database.writeTransaction(async (trx) => {
      const row = await this.getRow(trx, id);
      const now = this.now().toISOString();
      const deadlines = this.deadlinesOf({ ...row, verified_at: now });
      await this.move(trx, row, 'in-progress', actor, 'verified', 'identity verified', {
        verified_at: now,
        due_on: deadlines.due,
        original_due_on: deadlines.originalDue,
      });
      await this.enqueueAdvance(trx, id, 'in-progress', now);
    });
    this.onQueued();
    return this.get(id);
  }

  /**
   * Extends the deadline, with the reason the person is told (GDPR art. 12(3): by up to two
   * further months, decided within the first; CCPA: once, by 45 days).
   */
  async extend(id: string, amount: number | undefined, reason: string, actor: AuditActor): Promise<DsrView> {
    const trimmed = reason.trim();
    if (!trimmed)
      throw new AppError('VALIDATION_FAILED', 'reason: say why the request needs more time', {
        field: 'reason',
      });
    const accountId = await this.database.writeTransaction(async (trx) => {
      const row = await this.getRow(trx, id);
      if (isFinal(row.state as DsrState))
        throw new AppError('CONFLICT', `Request ${id} is ${row.state}: there is nothing left to extend`, {
          field: 'id',
        });
      const input = this.deadlineInput(row);
      const wanted = amount ?? (row.regime === 'ccpa' ? CCPA_EXTENSION_DAYS : 2 - row.extension);
      const check = checkExtension(input, wanted, this.today(), this.settings.calendar.calendar);
      if (!check.ok)
        throw new AppError('CONFLICT', `Cannot extend request ${id}: ${check.reason}`, { field: 'amount' });
      const deadlines = computeDeadlines(
        { ...input, extension: check.extension },
        this.settings.calendar.calendar,
      );
      const now = this.now().toISOString();
      const limit =
        row.state === 'in-progress' && row.type === 'rectification' ? endOfDay(deadlines.due) : undefined;
      await repo.updateRequest(trx, id, {
        extension: check.extension,
        extension_reason: trimmed,
        extended_at: now,
        due_on: deadlines.due,
        ...(limit ? { state_limit_at: limit.toISOString() } : {}),
        // The reminder before the old due date says nothing of the new one: the watch sends
        // another when the new one comes near.
        reminded_at: null,
        attention_since: null,
        attention_reason: null,
        updated_at: now,
      });
      const unit = row.regime === 'ccpa' ? 'days' : 'months';
      await this.record(
        trx,
        id,
        row.account_id,
        actor,
        'extended',
        null,
        null,
        `${wanted} ${unit}: ${trimmed}`,
        {
          extension: check.extension,
        },
      );
      return row.account_id;
    });
    await this.tellPerson(accountId, 'Your request needs more time', [
      `Your request ${id} needs more time. The new due date is ${(await this.get(id)).dueOn}.`,
      `The reason: ${trimmed}`,
    ]);
    return this.get(id);
  }

  /**
   * Completes a request an operator works on: a rectification, with the corrections made (which
   * apps holding the account hear of as `account.updated`, GDPR art. 19).
   */
  async complete(
    id: string,
    input: { note?: string; changes?: Partial<Omit<Profile, 'organizationId'>> },
    actor: AuditActor,
  ): Promise<DsrView> {
    await this.database.writeTransaction(async (trx) => {
      const row = await this.getRow(trx, id);
      if (row.type !== 'rectification' || row.state !== 'in-progress')
        throw new AppError(
          'CONFLICT',
          `Request ${id} is a ${row.type} request, ${row.state}: Custos completes it by its own steps (expedite them instead)`,
          { field: 'id' },
        );
      const changed = await this.deps.directory.rectifyWithin(
        trx,
        row.account_id,
        input.changes ?? {},
        actor,
      );
      // GDPR art. 21(3): an objection to direct marketing follows the person to their
      // corrected address (ConsentHub keys choices by address).
      const email = changed.includes('email')
        ? (await findAccount(trx, row.account_id))?.profile.email
        : null;
      if (email) await this.deps.consent.suppressCorrectedAddress(trx, row.account_id, email);
      const note = [
        changed.length ? `corrected: ${changed.join(', ')}` : 'no change needed',
        input.note?.trim(),
      ]
        .filter(Boolean)
        .join('; ');
      await this.move(trx, row, 'completed', actor, 'completed', note, { outcome_reason: note });
    });
    this.onQueued();
    return this.get(id);
  }

  /** Refuses a request, with the reason the person is told (e.g. identity not shown, manifestly unfounded). */
  async deny(id: string, reason: string, actor: AuditActor): Promise<DsrView> {
    const trimmed = reason.trim();
    if (!trimmed)
      throw new AppError('VALIDATION_FAILED', 'reason: say why the request is refused', { field: 'reason' });
    await this.database.writeTransaction(async (trx) => {
      const row = await this.getRow(trx, id);
      await this.move(trx, row, 'denied', actor, 'denied', trimmed, { outcome_reason: trimmed });
    });
    return this.get(id);
  }

  /**
   * Runs the waiting step now, with a reason: an erasure's grace period ends at once, an
   * access request stops waiting for apps, a failed step is tried again.
   */
  async expedite(id: string, reason: string, actor: AuditActor): Promise<DsrView> {
    const trimmed = reason.trim();
    if (!trimmed) throw new AppError('VALIDATION_FAILED', 'reason: say why', { field: 'reason' });
    await this.database.writeTransaction(async (trx) => {
      const row = await this.getRow(trx, id);
      const now = this.now().toISOString();
      const changes =
        row.state === 'grace-period'
          ? { grace_until: now, state_limit_at: now }
          : row.state === 'awaiting-apps'
            ? { apps_deadline_at: now, state_limit_at: now }
            : row.owner === 'system'
              ? {}
              : undefined;
      if (changes === undefined)
        throw new AppError('CONFLICT', `Request ${id} is ${row.state}: no step of Custos's waits`, {
          field: 'id',
        });
      await repo.updateRequest(trx, id, { ...changes, updated_at: now });
      await this.record(trx, id, row.account_id, actor, 'expedited', null, null, trimmed, {});
      await this.enqueueAdvance(trx, id, row.state as DsrState, `${now}:expedite`);
    });
    this.onQueued();
    return this.get(id);
  }

  // ── the person's actions ──────────────────────────────────────────────────────────────

  /** The person cancels their own request while nothing irreversible happened (an erasure's grace period). */
  async cancel(id: string, accountId: string, actor: AuditActor): Promise<DsrView> {
    await this.database.writeTransaction(async (trx) => {
      const row = await this.getRow(trx, id);
      if (row.account_id !== accountId) throw notFound();
      if (!CANCELLABLE_STATES.includes(row.state as DsrState))
        throw new AppError('CONFLICT', `Request ${id} is ${row.state}: it can no longer be cancelled`, {
          field: 'id',
        });
      if (row.type === 'erasure') await repo.deleteRestriction(trx, row.account_id, 'erasure-pending');
      await this.move(trx, row, 'cancelled', actor, 'cancelled', 'cancelled by the person', {});
    });
    return this.get(id);
  }

  /** Lifts the account's restriction of processing (GDPR art. 18(3)); apps hear `account.unrestricted`. */
  async liftRestriction(accountId: string, reason: string, actor: AuditActor): Promise<void> {
    await this.database.writeTransaction(async (trx) => {
      const restriction = await repo.findRestriction(trx, accountId, 'restricted');
      if (!restriction)
        throw new AppError('CONFLICT', 'Processing of this account is not restricted', {
          field: 'accountId',
        });
      await repo.deleteRestriction(trx, accountId, 'restricted');
      const at = this.now().toISOString();
      const told = await this.deps.propagation.announceToRecipients(
        trx,
        accountId,
        'account.unrestricted',
        {},
        at,
      );
      await this.record(
        trx,
        restriction.request_id,
        accountId,
        actor,
        'restriction-lifted',
        null,
        null,
        reason.trim() || null,
        { appsNotified: told.length },
      );
    });
    this.onQueued();
  }

  /**
   * Lifts the person's objection to direct marketing. Only the person may (GDPR art. 21(3)
   * makes the objection absolute), so this takes the signed-in account, not an operator.
   */
  async liftObjection(accountId: string, actor: AuditActor): Promise<void> {
    if (actor.type !== 'account' || actor.id !== accountId)
      throw new AppError('FORBIDDEN', 'Only the person may lift their objection', { field: 'accountId' });
    await this.database.writeTransaction(async (trx) => {
      const lifted = await this.deps.consent.liftMarketingSuppression(trx, accountId);
      if (!lifted) throw new AppError('CONFLICT', 'There is no objection to lift', { field: 'accountId' });
      const [last] = await repo.listRequests(trx, { accountId, type: 'objection', limit: 1 });
      if (last) await this.record(trx, last.id, accountId, actor, 'objection-lifted', null, null, null, {});
    });
  }

  /** What the person currently has in place: a restriction, an objection, a pending erasure. */
  async standing(
    accountId: string,
  ): Promise<{ restricted: boolean; erasurePending: boolean; objection: boolean }> {
    const kinds = await repo.listRestrictionKinds(this.database.db, accountId);
    const objection = await this.deps.consent.findMarketingSuppression(accountId);
    return {
      restricted: kinds.includes('restricted'),
      erasurePending: kinds.includes('erasure-pending'),
      objection: objection !== undefined,
    };
  }

  /** The Email API port: accounts restricted or deactivated pending erasure. */
  async listRestricted(accountIds: readonly string[]): Promise<ReadonlySet<string>> {
    return new Set(await repo.listRestricted(this.database.db, accountIds));
  }

  // ── apps ──────────────────────────────────────────────────────────────────────────────

  /**
   * An app's part of an access export (GDPR art. 15 covers what apps hold too), accepted
   * from an app that was told of the request, before its deadline.
   */
  async uploadPart(appKey: string, id: string, data: unknown): Promise<{ answeredAt: string }> {
    const at = this.now().toISOString();
    const complete = await this.database.writeTransaction(async (trx) => {
      // Under the request's lock: an upload racing with the apps' window closing (the deadline,
      // expedite) either lands before the export is compiled or is refused, never in between.
      const row = await this.findRowLocked(trx, id);
      const part = row && (await repo.findAppPart(trx, id, appKey));
      // A request the app was not told of answers as unknown: apps learn nothing of others'.
      if (!row || !part || row.type !== 'access') throw notFound();
      if (row.state !== 'awaiting-apps' || (row.apps_deadline_at !== null && row.apps_deadline_at <= at))
        throw new AppError('CONFLICT', `The deadline for parts of request ${id} has passed`, { field: 'id' });
      // An account erased meanwhile keeps nothing: its parts were cleared with it.
      if (!(await findAccount(trx, row.account_id))?.active)
        throw new AppError('CONFLICT', `The account of request ${id} is closed: its data is not kept`, {
          field: 'id',
        });
      await repo.updateAppPart(trx, id, appKey, {
        part: JSON.stringify(data),
        answered_at: at,
        confirmed_at: at,
      });
      await this.deps.audit.appendWithin(trx, [
        {
          actor: { type: 'app', id: appKey },
          action: 'dsr.part-uploaded',
          appKey,
          accountId: row.account_id,
          details: { requestId: id },
        },
      ]);
      const parts = await repo.listAppParts(trx, id);
      const allAnswered = parts.every((p) => p.answered_at !== null);
      if (allAnswered) await this.enqueueAdvance(trx, id, 'awaiting-apps', `${at}:all-answered`);
      return allAnswered;
    });
    if (complete) this.onQueued();
    return { answeredAt: at };
  }

  /** An app confirms it acted on a request it was told of (restriction applied, nothing held). */
  async confirmByApp(appKey: string, id: string): Promise<{ confirmedAt: string }> {
    const at = this.now().toISOString();
    await this.database.writeTransaction(async (trx) => {
      const row = await this.findRowLocked(trx, id);
      const part = row && (await repo.findAppPart(trx, id, appKey));
      if (!row || !part) throw notFound();
      if (part.confirmed_at === null) {
        await repo.updateAppPart(trx, id, appKey, { confirmed_at: at });
        await this.deps.audit.appendWithin(trx, [
          {
            actor: { type: 'app', id: appKey },
            action: 'dsr.app-confirmed',
            appKey,
            accountId: row.account_id,
            details: { requestId: id },
          },
        ]);
      }
    });
    return { confirmedAt: at };
  }

  // ── reading ───────────────────────────────────────────────────────────────────────────

  async get(id: string): Promise<DsrView> {
    const row = await repo.findRequest(this.database.db, id);
    if (!row) throw notFound();
    return this.view(row);
  }

  async show(id: string): Promise<DsrDetail> {
    const row = await repo.findRequest(this.database.db, id);
    if (!row) throw notFound();
    const events = await repo.listEvents(this.database.db, id);
    const exported = await repo.findExport(this.database.db, id);
    return {
      ...this.view(row),
      timeline: events.map((e) => ({
        at: e.at,
        actor: e.actor,
        action: e.action,
        fromState: e.from_state,
        toState: e.to_state,
        note: e.note,
      })),
      apps: await this.appsOf(row),
      exportAvailable: exported?.content != null,
    };
  }

  async list(filter: Omit<repo.RequestFilter, 'limit'> & { limit?: number }): Promise<DsrView[]> {
    const rows = await repo.listRequests(this.database.db, { ...filter, limit: filter.limit ?? 200 });
    return rows.map((r) => this.view(r));
  }

  /** Overdue, stalled or failed requests: the console's "needs attention" list. */
  async listNeedingAttention(): Promise<DsrView[]> {
    const now = this.now();
    const rows = await repo.listNeedingAttention(this.database.db, now.toISOString(), dateOf(now));
    return rows.map((r) => ({
      ...this.view(r),
      attentionReason: r.attention_reason ?? attentionReasonOf(r, now),
    }));
  }

  // ── exports ───────────────────────────────────────────────────────────────────────────

  /** A download link for the person's export that works for CUSTOS_DSR_LINK_MINUTES. */
  exportLink(id: string, accountId: string): { path: string; expiresAt: string } {
    const exp = this.now().getTime() + this.settings.linkMs;
    const sig = this.sign(id, accountId, exp);
    return {
      path: `/privacy/requests/${id}/export?exp=${exp}&sig=${sig}`,
      expiresAt: new Date(exp).toISOString(),
    };
  }

  /** The export document, for its owner holding a live link. */
  async readExport(
    id: string,
    accountId: string,
    exp: number,
    sig: string,
  ): Promise<Record<string, unknown>> {
    const expected = Buffer.from(this.sign(id, accountId, exp));
    const given = Buffer.from(sig);
    if (expected.length !== given.length || !timingSafeEqual(expected, given) || exp < this.now().getTime())
      throw new AppError(
        'FORBIDDEN',
        'This download link has expired: ask for a new one on your requests page',
        {
          field: 'sig',
        },
      );
    const row = await repo.findRequest(this.database.db, id);
    if (!row || row.account_id !== accountId) throw notFound();
    // An erased account's exports were cleared with it; a copy made before must not outlive it.
    const account = await findAccount(this.database.db, accountId);
    if (!account?.active)
      throw new AppError('NOT_FOUND', 'The account was closed: its exports were deleted with it', {
        field: 'id',
      });
    const exported = await repo.findExport(this.database.db, id);
    if (!exported?.content) throw notFound();
    await repo.markExportDownloaded(this.database.db, id, this.now().toISOString());
    return JSON.parse(exported.content) as Record<string, unknown>;
  }

  private sign(id: string, accountId: string, exp: number): string {
    return createHmac('sha256', this.settings.linkKey)
      .update(`${id}\n${accountId}\n${exp}`)
      .digest('base64url');
  }

  // ── Custos's own steps (the jobs) ─────────────────────────────────────────────────────

  /**
   * Runs the step the request's state calls for, if it is Custos's to run and due. Idempotent
   * and resumable: each step commits its transition, so a worker killed between two steps
   * leaves the request in a state whose step is run again by the next attempt. A failure is
   * written on the request (the console shows it) before the job is retried.
   */
  async advance(id: string): Promise<{ state: string; steps: number }> {
    let steps = 0;
    try {
      for (; steps < 5; steps++) {
        const row = await repo.findRequest(this.database.db, id);
        if (!row) return { state: 'missing', steps };
        if (!(await this.step(row))) return { state: row.state, steps };
      }
      return { state: (await this.get(id)).state, steps };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      await this.database.writeTransaction(async (trx) => {
        const row = await repo.findRequest(trx, id);
        if (!row) return;
        await repo.updateRequest(trx, id, {
          last_error: message.slice(0, 500),
          updated_at: this.now().toISOString(),
        });
        await this.record(
          trx,
          id,
          row.account_id,
          SYSTEM,
          'step-failed',
          null,
          null,
          message.slice(0, 500),
          {},
        );
      });
      throw error;
    }
  }

  /** One step; false when nothing is due. */
  private async step(row: DsrRequestRow): Promise<boolean> {
    const now = this.now();
    const at = now.toISOString();
    const state = row.state as DsrState;
    const type = row.type as DsrType;
    if (state === 'in-progress') {
      if (type === 'rectification') return false;
      await this.database.writeTransaction(async (trx) => {
        const fresh = await this.getRow(trx, row.id);
        if (fresh.state !== 'in-progress') return;
        await this.runFirstStep(trx, fresh, at);
      });
      this.onQueued();
      return true;
    }
    if (state === 'awaiting-apps') {
      const parts = await repo.listAppParts(this.database.db, row.id);
      const due = (row.apps_deadline_at ?? at) <= at || parts.every((p) => p.answered_at !== null);
      if (!due) return false;
      await this.database.writeTransaction(async (trx) => {
        const fresh = await this.getRow(trx, row.id);
        if (fresh.state !== 'awaiting-apps') return;
        const missing = parts.filter((p) => p.answered_at === null).length;
        await this.move(
          trx,
          fresh,
          'compiling',
          SYSTEM,
          'apps-closed',
          `${missing} app(s) did not answer`,
          {},
        );
      });
      return true;
    }
    if (state === 'compiling') {
      const document = await this.buildExport(row);
      const content = JSON.stringify(document);
      const completed = await this.database.writeTransaction(async (trx) => {
        const fresh = await this.getRow(trx, row.id);
        // Another worker's run completed it meanwhile: it has told the person already.
        if (fresh.state !== 'compiling') return false;
        // The account was erased while the export was compiled: nothing of it is stored, and
        // nobody is left to tell.
        if (!(await findAccount(trx, row.account_id))?.active) {
          await repo.clearExportsOfAccount(trx, row.account_id, at);
          const outcome = 'account erased before the export was ready: nothing kept';
          await this.move(trx, fresh, 'completed', SYSTEM, 'completed', outcome, { outcome_reason: outcome });
          return false;
        }
        await repo.upsertExport(trx, {
          request_id: row.id,
          content,
          bytes: Buffer.byteLength(content),
          created_at: at,
          delete_after: new Date(now.getTime() + this.settings.exportRetentionMs).toISOString(),
        });
        await this.move(trx, fresh, 'completed', SYSTEM, 'completed', 'export ready to download', {
          outcome_reason: 'export ready to download',
        });
        return true;
      });
      if (completed)
        await this.tellPerson(row.account_id, 'Your data is ready', [
          `The export of your data (request ${row.id}) is ready. Download it from your requests page.`,
        ]);
      return true;
    }
    if (state === 'grace-period') {
      if ((row.grace_until ?? at) > at) return false;
      await this.database.writeTransaction(async (trx) => {
        const fresh = await this.getRow(trx, row.id);
        if (fresh.state !== 'grace-period') return;
        await this.move(trx, fresh, 'erasing', SYSTEM, 'grace-ended', null, {});
      });
      return true;
    }
    if (state === 'erasing') {
      // An objection of the same person still waiting for its step is honoured first: the close
      // empties the profile, and the suppression needs the address it suppresses. The erasure
      // suppresses the address too (docs/legal-rules.md#art-15-to-18-and-20-access-rectification-erasure-restriction-portability):
      // the consent events stay as proof, and ConsentHub answers "no" for it from now on.
      await this.database.writeTransaction(async (trx) => {
        const pending = await repo.listRequests(trx, {
          accountId: row.account_id,
          type: 'objection',
          state: 'in-progress',
          limit: 10,
        });
        for (const objection of pending) {
          const fresh = await this.getRow(trx, objection.id);
          if (fresh.state === 'in-progress') await this.runFirstStep(trx, fresh, at);
        }
        // A run after the close finds no address left: this one already suppressed it.
        const email = (await findAccount(trx, row.account_id))?.profile.email;
        if (email)
          await this.deps.consent.suppressMarketingOfErased(trx, {
            email,
            accountId: row.account_id,
            requestId: row.id,
            at,
          });
      });
      // Its own transaction, telling every holding app (account.closed) and emptying the earlier
      // access requests' exports and apps' parts (accountCopies above); closing twice is a no-op.
      await this.deps.directory.closeAccount(row.account_id, SYSTEM);
      await this.database.writeTransaction(async (trx) => {
        const fresh = await this.getRow(trx, row.id);
        if (fresh.state !== 'erasing') return;
        await repo.deleteRestriction(trx, row.account_id, 'erasure-pending');
        await this.move(trx, fresh, 'completed', SYSTEM, 'completed', 'account closed; holding apps told', {
          outcome_reason: 'account closed',
        });
      });
      this.onQueued();
      return true;
    }
    return false;
  }

  /**
   * Tells every app holding the request's account (`requestId` and `extra` as the payload) and
   * records each app's part: whom the request reached, and by which message.
   */
  private async tellHoldingApps(
    trx: Kysely<DB>,
    row: DsrRequestRow,
    eventType: 'dsr.access-requested' | 'account.restricted',
    at: string,
    extra: Record<string, string> = {},
  ) {
    const sent = await this.deps.propagation.announceToRecipients(
      trx,
      row.account_id,
      eventType,
      { requestId: row.id, ...extra },
      at,
    );
    await repo.insertAppParts(
      trx,
      sent.map(({ appKey, messageId }) => ({
        request_id: row.id,
        app_key: appKey,
        event_type: eventType,
        message_id: messageId,
        told_at: at,
      })),
    );
    return sent;
  }

  private async runFirstStep(trx: Kysely<DB>, row: DsrRequestRow, at: string): Promise<void> {
    const type = row.type as DsrType;
    if (type === 'access') {
      const deadline = new Date(new Date(at).getTime() + this.settings.appMs).toISOString();
      const sent = await this.tellHoldingApps(trx, row, 'dsr.access-requested', at, {
        deadline,
        uploadUrl: `${this.settings.publicUrl()}/app/dsr/requests/${row.id}/part`,
      });
      const note = `${sent.length} holding app(s) asked for their part`;
      if (sent.length === 0) {
        await this.move(trx, row, 'awaiting-apps', SYSTEM, 'apps-asked', note, { apps_deadline_at: at });
        const fresh = await this.getRow(trx, row.id);
        await this.move(trx, fresh, 'compiling', SYSTEM, 'apps-closed', 'no app holds the account', {});
      } else {
        await this.move(trx, row, 'awaiting-apps', SYSTEM, 'apps-asked', note, {
          apps_deadline_at: deadline,
        });
        await this.enqueueAdvance(trx, row.id, 'awaiting-apps', deadline, new Date(deadline));
      }
      return;
    }
    if (type === 'erasure') {
      // Deactivated at once: the Email API refuses the account while the person may still cancel.
      await repo.upsertRestriction(trx, {
        account_id: row.account_id,
        kind: 'erasure-pending',
        request_id: row.id,
        since: at,
      });
      const graceUntil = new Date(new Date(at).getTime() + this.settings.erasureGraceMs).toISOString();
      await this.move(trx, row, 'grace-period', SYSTEM, 'deactivated', `cancellable until ${graceUntil}`, {
        grace_until: graceUntil,
      });
      await this.enqueueAdvance(trx, row.id, 'grace-period', graceUntil, new Date(graceUntil));
      return;
    }
    if (type === 'restriction') {
      await repo.upsertRestriction(trx, {
        account_id: row.account_id,
        kind: 'restricted',
        request_id: row.id,
        since: at,
      });
      const sent = await this.tellHoldingApps(trx, row, 'account.restricted', at);
      await this.move(trx, row, 'completed', SYSTEM, 'completed', `restricted; ${sent.length} app(s) told`, {
        outcome_reason: 'processing restricted',
      });
      return;
    }
    if (type === 'objection') {
      const account = await findAccount(trx, row.account_id);
      const email = account?.profile.email;
      if (email)
        await this.deps.consent.suppressMarketing(trx, {
          email,
          accountId: row.account_id,
          requestId: row.id,
          at,
        });
      // Without an address (the account was closed by other means first) there is nothing left
      // to suppress; the outcome says so rather than claim a suppression that was not made.
      const outcome = email ? 'direct marketing suppressed' : 'no address remains to suppress';
      await this.move(trx, row, 'completed', SYSTEM, 'completed', outcome, { outcome_reason: outcome });
    }
  }

  /** The access export (GDPR arts. 15 and 20): structured, machine-readable, with what apps uploaded. */
  private async buildExport(row: DsrRequestRow): Promise<Record<string, unknown>> {
    const db = this.database.db;
    const account = await findAccount(db, row.account_id);
    if (!account) throw new Error(`account of request ${row.id} is gone`);
    const consent = account.profile.email ? await this.deps.consent.listHistory(account.profile.email) : [];
    const evidence = await this.deps.compliance.accountEvidence(row.account_id);
    const disclosures = await queryAuditLog(db, {
      account: row.account_id,
      action: 'email.disclosed',
      limit: 1000,
    });
    const parts = await repo.listAppParts(db, row.id);
    const earlier = await repo.listRequests(db, { accountId: row.account_id, limit: 200 });
    return {
      format: 'custos.dsr-export.v1',
      requestId: row.id,
      accountId: row.account_id,
      generatedAt: this.now().toISOString(),
      profile: account.profile,
      visibility: account.visibility,
      consentHistory: consent,
      holdings: evidence.apps.map((a) => ({
        appKey: a.appKey,
        holds: a.holds,
        firstRetrievedAt: a.retrievedAt,
        lastReportedAt: a.reportedAt,
        toldAt: a.toldAt,
        toldBy: a.toldBy,
        confirmedErasureAt: a.confirmedAt,
      })),
      emailDisclosures: disclosures.values.map((d) => ({
        appKey: d.appKey,
        at: d.at,
        endpoint: (JSON.parse(d.details) as { endpoint?: string }).endpoint ?? null,
      })),
      grants: this.deps.grants ? await this.deps.grants.listGrants(row.account_id) : [],
      sessions: await this.deps.sessions.list(row.account_id),
      requests: earlier
        .filter((r) => r.id !== row.id)
        .map((r) => ({
          id: r.id,
          type: r.type,
          state: r.state,
          receivedAt: r.received_at,
          dueOn: r.due_on,
        })),
      appParts: parts
        .filter((p) => p.answered_at !== null)
        .map((p) => ({
          appKey: p.app_key,
          answeredAt: p.answered_at,
          data: JSON.parse(p.part ?? 'null') as unknown,
        })),
      appsNotAnswered: parts.filter((p) => p.answered_at === null).map((p) => p.app_key),
    };
  }

  /** Reminders before deadlines and the attention list; a backstop that re-runs due steps. */
  async watch(): Promise<{ reminded: number; flagged: number; resumed: number }> {
    const now = this.now();
    const at = now.toISOString();
    const today = dateOf(now);
    let reminded = 0;
    let flagged = 0;
    let resumed = 0;
    for (const row of await repo.listOpenRequests(this.database.db)) {
      const deadlines = this.deadlinesOf(row);
      const remind = row.reminded_at === null && isShortOfTime(deadlines, today);
      const reason = attentionReasonOf(row, now);
      const flag = row.attention_since === null && reason !== null;
      if (!remind && !flag) continue;
      await this.database.writeTransaction(async (trx) => {
        if (remind) {
          await repo.updateRequest(trx, row.id, { reminded_at: at });
          await this.record(
            trx,
            row.id,
            row.account_id,
            SYSTEM,
            'reminder',
            null,
            null,
            `due on ${row.due_on}`,
            {},
          );
          reminded++;
        }
        if (flag) {
          await repo.updateRequest(trx, row.id, { attention_since: at, attention_reason: reason });
          await this.record(trx, row.id, row.account_id, SYSTEM, 'needs-attention', null, null, reason, {});
          flagged++;
        }
      });
    }
    for (const row of await repo.listDueSystemSteps(this.database.db, at)) {
      await this.database.writeTransaction((trx) =>
        this.enqueueAdvance(trx, row.id, row.state as DsrState, `watch:${at}`),
      );
      resumed++;
    }
    if (resumed > 0) this.onQueued();
    return { reminded, flagged, resumed };
  }

  // ── internals ─────────────────────────────────────────────────────────────────────────

  /** The one place a request changes state: checked, timed, recorded and audited together. */
  private async move(
    trx: Kysely<DB>,
    row: DsrRequestRow,
    to: DsrState,
    actor: AuditActor,
    action: string,
    note: string | null,
    changes: Partial<DsrRequestRow>,
  ): Promise<void> {
    const from = row.state as DsrState;
    if (!canTransition(from, to))
      throw new AppError('CONFLICT', `Request ${row.id} is ${from}; it cannot become ${to}`, { field: 'id' });
    const now = this.now();
    const merged = { ...row, ...changes };
    const { owner, limitAt } = ownerAndLimit(to, row.type as DsrType, {
      since: now,
      dueAt: endOfDay(merged.due_on),
      appsDeadlineAt: merged.apps_deadline_at ? new Date(merged.apps_deadline_at) : null,
      graceUntil: merged.grace_until ? new Date(merged.grace_until) : null,
    });
    await repo.updateRequest(trx, row.id, {
      ...changes,
      state: to,
      owner,
      state_since: now.toISOString(),
      state_limit_at: limitAt?.toISOString() ?? null,
      last_error: null,
      attention_since: null,
      attention_reason: null,
      closed_at: isFinal(to) ? now.toISOString() : null,
      updated_at: now.toISOString(),
    });
    await this.record(trx, row.id, row.account_id, actor, action, from, to, note, {});
  }

  /** A timeline entry and its audit entry (ids and states only: no notes, which may hold PD). */
  private async record(
    trx: Kysely<DB>,
    requestId: string,
    accountId: string,
    actor: AuditActor,
    action: string,
    from: string | null,
    to: string | null,
    note: string | null,
    details: Record<string, string | number | boolean>,
  ): Promise<void> {
    const at = this.now().toISOString();
    await repo.insertEvent(trx, {
      request_id: requestId,
      at,
      actor: actorRef(actor),
      action,
      from_state: from,
      to_state: to,
      note,
    });
    await this.deps.audit.appendWithin(trx, [
      {
        actor,
        action: `dsr.${action}`,
        accountId,
        details: { requestId, ...(from ? { from } : {}), ...(to ? { to } : {}), ...details },
      },
    ]);
  }

  private async enqueueAdvance(trx: Kysely<DB>, id: string, state: DsrState, key: string, runAt?: Date) {
    await this.deps.jobs.enqueue(
      trx,
      ADVANCE_JOB,
      { requestId: id },
      { key: `${id}:${state}:${key}`, runAt },
    );
  }

  /**
   * The request, read inside a write transaction under its own lock: two workers (or a worker
   * and an operator) moving the same request wait for each other on PostgreSQL, so the state
   * each checks is the state it changes. SQLite's single writer serializes them already.
   */
  private async getRow(trx: Kysely<DB>, id: string): Promise<DsrRequestRow> {
    const row = await this.findRowLocked(trx, id);
    if (!row) throw notFound();
    return row;
  }

  /** As getRow, for callers that answer an unknown request in their own way. */
  private async findRowLocked(trx: Kysely<DB>, id: string): Promise<DsrRequestRow | undefined> {
    await this.database.advisoryLock(trx, `dsr-request:${id}`);
    return repo.findRequest(trx, id);
  }

  private deadlineInput(
    row: Pick<DsrRequestRow, 'regime' | 'received_at' | 'verified_at' | 'needs_verification' | 'extension'>,
  ): DeadlineInput {
    return {
      regime: row.regime as Regime,
      receivedAt: row.received_at,
      verifiedAt: row.verified_at,
      needsVerification: row.needs_verification === 1,
      extension: row.extension,
    };
  }

  private deadlinesOf(
    row: Pick<DsrRequestRow, 'regime' | 'received_at' | 'verified_at' | 'needs_verification' | 'extension'>,
  ): Deadlines {
    return computeDeadlines(this.deadlineInput(row), this.settings.calendar.calendar);
  }

  private today(): string {
    return dateOf(this.now());
  }

  private view(row: DsrRequestRow): DsrView {
    const today = this.today();
    const state = row.state as DsrState;
    const open = !isFinal(state);
    return {
      id: row.id,
      accountId: row.account_id,
      type: row.type as DsrType,
      regime: row.regime as Regime,
      state,
      owner: row.owner as DsrOwner,
      filedVia: row.filed_via,
      filedBy: row.filed_by,
      needsVerification: row.needs_verification === 1,
      details: row.details,
      receivedAt: row.received_at,
      verifiedAt: row.verified_at,
      dueOn: row.due_on,
      originalDueOn: row.original_due_on,
      acknowledgeBy: row.acknowledge_by,
      daysLeft: open && row.due_on ? daysLeft(row.due_on, today) : null,
      shortOfTime: open && isShortOfTime(this.deadlinesOf(row), today),
      extension: row.extension,
      extensionUnit: row.regime === 'ccpa' ? 'days' : 'months',
      extensionReason: row.extension_reason,
      extendedAt: row.extended_at,
      stateSince: row.state_since,
      stateLimitAt: row.state_limit_at,
      appsDeadlineAt: row.apps_deadline_at,
      graceUntil: row.grace_until,
      outcomeReason: row.outcome_reason,
      attentionReason: row.attention_reason,
      lastError: row.last_error,
      closedAt: row.closed_at,
      cancellable: CANCELLABLE_STATES.includes(state),
    };
  }

  private async appsOf(row: DsrRequestRow): Promise<DsrAppView[]> {
    if (row.type === 'erasure') {
      const evidence = await this.deps.compliance.accountEvidence(row.account_id);
      return evidence.apps
        .filter((a) => a.toldAt !== null || a.holds)
        .map((a) => ({
          appKey: a.appKey,
          event: 'account.closed',
          toldAt: a.toldAt,
          deliveredAt: a.deliveredAt,
          delivery: a.webhookStatus,
          answeredAt: null,
          confirmedAt: a.confirmedAt,
        }));
    }
    const parts = await repo.listAppParts(this.database.db, row.id);
    return parts.map((p) => ({
      appKey: p.app_key,
      event: p.event_type,
      toldAt: p.told_at,
      deliveredAt: p.delivered_at ?? null,
      delivery: p.message_status ?? null,
      answeredAt: p.answered_at,
      confirmedAt: p.confirmed_at,
    }));
  }

  /** Mail to the person, when mail is configured; the privacy centre shows the same. */
  private async tellPerson(accountId: string, subject: string, lines: string[]): Promise<void> {
    if (!this.deps.mailer.enabled) return;
    const account = await findAccount(this.database.db, accountId);
    if (!account?.profile.email) return;
    try {
      await this.deps.mailer.send({ to: account.profile.email, subject, text: `${lines.join('\n\n')}\n` });
    } catch {
      // The request's page shows the same news; a mail server down must not undo the change.
    }
  }
}

/** The end of a due day (UTC): a request due on a day may be answered until midnight. */
function endOfDay(date: string | null): Date | null {
  return date === null ? null : new Date(`${date}T23:59:59.999Z`);
}

function attentionReasonOf(row: DsrRequestRow, now: Date): string | null {
  // The prefix is how the console knows to hide the message (dsr-pages.model.ts).
  if (row.last_error) return `a step failed: ${row.last_error}`;
  if (row.due_on && row.due_on < dateOf(now)) return `overdue: it was due on ${row.due_on}`;
  if (row.state_limit_at && row.state_limit_at < now.toISOString())
    return `stalled: ${row.state} since ${row.state_since}, waiting on ${row.owner}`;
  return null;
}
