import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AuditActor, AuditLog } from '../audit/audit.service.js';
import type { Database } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import { findAppSummary } from '../directory/directory-read.service.js';
import { AppError } from '../errors/app-error.js';
import { enqueueWebhooks } from '../webhooks/webhook-dispatcher.js';
import { toAccessRequest } from './access.mapper.js';
import * as repo from './access.repository.js';
import { findGrantingRequests } from './access.repository.js';
import { canTransition, evaluateRequest, FILING_WINDOW_MS, type ReportingCheck } from './access.rules.js';
import type { AccessRequest, AccessRequestBody, AccessStatus, UseCase } from './access.schemas.js';
import type { ReportingCompliance } from './reporting-compliance.port.js';

const actorRef = (actor: AuditActor) => `${actor.type}:${actor.id}`;

/** The event vendors receive for a status, if it is a decision they must hear about. */
const WEBHOOK_EVENT: Partial<Record<AccessStatus, string>> = {
  'auto-approved': 'access.approved',
  approved: 'access.approved',
  'auto-rejected': 'access.rejected',
  rejected: 'access.rejected',
  revoked: 'access.revoked',
};

/**
 * The Email API access programme (docs/wire-contracts.md#email-api-access-programme):
 * requests, automatic and human decisions, the allow list and revocation. Every transition is audited and announced
 * to the vendor in the transaction that makes it, so record, state and webhook never disagree.
 */
export class AccessProgramme {
  constructor(
    private readonly database: Database,
    private readonly audit: AuditLog,
    private readonly reporting: ReportingCompliance,
    private readonly limits: { requestsPerDay: number },
    /** Called after a commit that queued webhooks (wakes the worker). */
    private readonly onQueued: () => void = () => {},
  ) {}

  /** Files a request; `callerAppKey` is set when the app itself submits (it may only speak for itself). */
  async submit(
    body: AccessRequestBody,
    actor: AuditActor,
    callerAppKey?: string,
  ): Promise<{ id: string; status: AccessStatus }> {
    if (callerAppKey !== undefined && body.appKey !== callerAppKey)
      throw new AppError('FORBIDDEN', 'appKey is not the calling app', { field: 'appKey' });
    const useCases = await this.resolveUseCases(body.useCases);
    const app = await findAppSummary(this.database.db, body.appKey);
    if (!app) throw new AppError('NOT_FOUND', 'No such app', { field: 'appKey' });
    const storesPd = body.storesPersonalData || app.storesPersonalData;
    const reporting = await this.reportingCheck(body.appKey, storesPd);
    const evaluation = evaluateRequest(useCases, reporting);

    const id = `ear_${randomUUID().replaceAll('-', '')}`;
    await this.database.writeTransaction(async (trx) => {
      // Filings of one app are serialized, so two at once cannot both find no open request.
      await this.database.advisoryLock(trx, `access-request:${body.appKey}`);
      const at = new Date();
      await this.assertMayFile(trx, body.appKey, at);
      const now = at.toISOString();
      await repo.insertRequest(trx, {
        id,
        app_key: body.appKey,
        status: 'submitted',
        company_name: body.companyName,
        app_name: body.appName,
        listing_url: body.listingUrl ?? null,
        privacy_policy_url: body.privacyPolicyUrl,
        terms_url: body.termsUrl,
        stores_personal_data: storesPd ? 1 : 0,
        use_cases: JSON.stringify(body.useCases),
        description: body.description,
        privacy_policy_excerpt: body.privacyPolicyExcerpt,
        reporting_check: reporting,
        reason: null,
        submitted_by: actorRef(actor),
        submitted_at: now,
        updated_at: now,
      });
      await this.audit.appendWithin(trx, [
        {
          actor,
          action: 'access.submitted',
          appKey: body.appKey,
          details: { requestId: id, useCases: body.useCases.join(','), reportingCheck: reporting },
        },
      ]);
      const system: AuditActor = { type: 'system', id: 'access-programme' };
      await this.move(trx, id, body.appKey, 'submitted', evaluation.status, evaluation.reason, system, now);
    });
    this.onQueued();
    return { id, status: evaluation.status };
  }

  /** A reviewer's decision on a request in review. */
  async decide(
    id: string,
    to: 'approved' | 'rejected',
    reason: string,
    actor: AuditActor,
  ): Promise<AccessRequest> {
    await this.database.writeTransaction(async (trx) => {
      const row = await repo.findRequest(trx, id);
      if (!row) throw new AppError('NOT_FOUND', 'No such access request', { field: 'id' });
      await this.move(trx, id, row.app_key, row.status, to, reason, actor, new Date().toISOString());
    });
    this.onQueued();
    return this.get(id);
  }

  /**
   * Takes the app off the allow list, which the operator may do at any time
   * (docs/wire-contracts.md#approval-and-its-limits). The Email API reads this state on every call,
   * so the very next call is refused.
   */
  async revoke(appKey: string, reason: string, actor: AuditActor): Promise<AccessRequest[]> {
    const ids = await this.database.writeTransaction(async (trx) => {
      const granting = await findGrantingRequests(trx, appKey);
      if (granting.length === 0)
        throw new AppError('CONFLICT', `${appKey} has no approved Email API access to revoke`, {
          field: 'appKey',
        });
      const now = new Date().toISOString();
      for (const row of granting)
        await this.move(trx, row.id, appKey, row.status, 'revoked', reason, actor, now);
      return granting.map((r) => r.id);
    });
    this.onQueued();
    return Promise.all(ids.map((id) => this.get(id)));
  }

  async get(id: string): Promise<AccessRequest> {
    const row = await repo.findRequest(this.database.db, id);
    if (!row) throw new AppError('NOT_FOUND', 'No such access request', { field: 'id' });
    return toAccessRequest(row);
  }

  async list(filter: { status?: AccessStatus; app?: string; limit: number; cursor?: string }) {
    const rows = await repo.listRequests(this.database.db, {
      status: filter.status,
      appKey: filter.app,
      afterSeq: filter.cursor === undefined ? undefined : Number(filter.cursor),
      limit: filter.limit,
    });
    const last = rows.at(-1);
    return {
      values: rows.map(toAccessRequest),
      nextCursor: rows.length === filter.limit && last ? String(last.seq) : null,
    };
  }

  /**
   * The Email API allow list, read on every Email API call: never cached, so a revocation
   * counts from the next call. `db` reads inside the caller's transaction.
   */
  isApproved(appKey: string, db: Kysely<DB> = this.database.db): Promise<boolean> {
    return repo.isOnAllowList(db, appKey);
  }

  async useCases(): Promise<UseCase[]> {
    return (await repo.listUseCases(this.database.db)).map(({ id, category, functionality, decision }) => ({
      id,
      category,
      functionality,
      decision,
    }));
  }

  /**
   * The catalogue is data: operators add use cases, e.g. ones vendors describe
   * (docs/wire-contracts.md#use-cases).
   */
  async addUseCase(useCase: UseCase, actor: AuditActor): Promise<void> {
    await this.database.writeTransaction(async (trx) => {
      if ((await repo.findUseCases(trx, [useCase.id])).length > 0)
        throw new AppError('CONFLICT', `Use case ${useCase.id} already exists`, { field: 'id' });
      await repo.insertUseCase(trx, { ...useCase, created_at: new Date().toISOString() });
      await this.audit.appendWithin(trx, [
        {
          actor,
          action: 'access.use-case-added',
          details: { useCase: useCase.id, decision: useCase.decision },
        },
      ]);
    });
  }

  /**
   * An app files one request at a time and at most `requestsPerDay` in any 24 hours, whoever
   * files them: each request costs a reviewer's attention, an audit entry and a webhook, so
   * an app must not be able to flood the queue. A decided request (even a rejected one)
   * leaves the app free to file a corrected one.
   */
  private async assertMayFile(trx: Kysely<DB>, appKey: string, at: Date): Promise<void> {
    const open = await repo.findOpenRequest(trx, appKey);
    if (open)
      throw new AppError(
        'CONFLICT',
        `Access request ${open.id} of ${appKey} is still in review; file another after its decision`,
        { field: 'appKey' },
      );
    const limit = this.limits.requestsPerDay;
    const since = new Date(at.getTime() - FILING_WINDOW_MS).toISOString();
    const recent = await repo.listSubmissionTimes(trx, appKey, since);
    if (recent.length < limit) return;
    // The next filing is possible once enough of the counted ones leave the window.
    const freedAt = Date.parse(recent[recent.length - limit] as string) + FILING_WINDOW_MS;
    const retryAfterS = Math.max(1, Math.ceil((freedAt - at.getTime()) / 1000));
    throw new AppError(
      'RATE_LIMITED',
      `${appKey} has filed ${recent.length} access requests in the last 24 hours (at most ${limit}); file again after ${new Date(freedAt).toISOString()}`,
      { field: 'appKey', headers: { 'Retry-After': String(retryAfterS) } },
    );
  }

  private async resolveUseCases(ids: string[]): Promise<UseCase[]> {
    const known = new Map((await repo.findUseCases(this.database.db, ids)).map((u) => [u.id, u]));
    const unknown = ids.flatMap((id, i) => (known.has(id) ? [] : [`useCases.${i} "${id}"`]));
    if (unknown.length > 0)
      throw new AppError('VALIDATION_FAILED', `Unknown use cases: ${unknown.join(', ')}`, {
        field: unknown[0]?.split(' ')[0],
      });
    return ids.map((id) => known.get(id) as UseCase);
  }

  private async reportingCheck(appKey: string, storesPd: boolean): Promise<ReportingCheck> {
    if (!storesPd) return 'not-required';
    const answer = await this.reporting.reportedWithinCycle(appKey);
    return answer === 'yes' ? 'met' : answer === 'no' ? 'not-met' : 'pending';
  }

  /** The one place a request changes state: checked, audited and announced together. */
  private async move(
    trx: Kysely<DB>,
    id: string,
    appKey: string,
    from: AccessStatus,
    to: AccessStatus,
    reason: string,
    actor: AuditActor,
    now: string,
  ): Promise<void> {
    if (!canTransition(from, to))
      throw new AppError('CONFLICT', `Access request ${id} is ${from}; it cannot become ${to}`, {
        field: 'id',
      });
    const by = actorRef(actor);
    const changes =
      to === 'revoked'
        ? { status: to, revoked_by: by, revoked_at: now, reason, updated_at: now }
        : { status: to, decided_by: by, decided_at: now, reason, updated_at: now };
    if (!(await repo.transitionRequest(trx, id, from, changes)))
      throw new AppError('CONFLICT', `Access request ${id} changed meanwhile; try again`, { field: 'id' });
    await this.audit.appendWithin(trx, [
      { actor, action: `access.${to}`, appKey, details: { requestId: id, from, to } },
    ]);
    const eventType = WEBHOOK_EVENT[to];
    if (eventType) {
      // Thin payload (no PD, no request text): the vendor looks the request up if it needs more.
      const payload = {
        type: eventType,
        timestamp: now,
        data: { requestId: id, appKey, status: to, reason, at: now },
      };
      await enqueueWebhooks(trx, [{ appKey, eventType, payload, orderingKey: appKey }]);
    }
  }
}
