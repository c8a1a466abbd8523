import { type Kysely, sql } from 'kysely';
import type { DB } from '../db/schema.js';

/**
 * The console's reads. Each list is one keyset-paged query that selects only the columns its
 * page shows, so a page costs the same with a hundred rows stored or a million. Writes are
 * never here: every console action calls the service its admin API twin calls.
 */

export async function countInReview(db: Kysely<DB>, submittedBefore?: string): Promise<number> {
  let query = db
    .selectFrom('access_requests')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('status', '=', 'in-review');
  if (submittedBefore !== undefined) query = query.where('submitted_at', '<', submittedBefore);
  return Number((await query.executeTakeFirst())?.n ?? 0);
}

export async function countDeadLetters(db: Kysely<DB>): Promise<number> {
  const row = await db
    .selectFrom('webhook_messages')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('status', '=', 'dead')
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

const REVIEW_COLUMNS = [
  'seq',
  'id',
  'app_key',
  'status',
  'company_name',
  'app_name',
  'listing_url',
  'privacy_policy_url',
  'terms_url',
  'stores_personal_data',
  'use_cases',
  'description',
  'privacy_policy_excerpt',
  'reporting_check',
  'reason',
  'submitted_at',
] as const;

/** Requests waiting for a person, oldest first. */
export function listInReview(db: Kysely<DB>, afterSeq: number, limit: number) {
  return db
    .selectFrom('access_requests')
    .select(REVIEW_COLUMNS)
    .where('status', '=', 'in-review')
    .where('seq', '>', afterSeq)
    .orderBy('seq')
    .limit(limit)
    .execute();
}

/**
 * Decided requests, the latest decision first (a revocation moves its request up), keyset
 * paged on (updated_at, seq) from the request `beforeSeq` names.
 */
export async function listDecided(db: Kysely<DB>, beforeSeq: number | undefined, limit: number) {
  let query = db
    .selectFrom('access_requests')
    .select([
      'seq',
      'id',
      'app_key',
      'app_name',
      'status',
      'reason',
      'decided_by',
      'decided_at',
      'revoked_by',
      'revoked_at',
      'updated_at',
    ])
    .where('status', 'not in', ['submitted', 'in-review'])
    .orderBy('updated_at', 'desc')
    .orderBy('seq', 'desc')
    .limit(limit);
  if (beforeSeq !== undefined) {
    const anchor = await db
      .selectFrom('access_requests')
      .select('updated_at')
      .where('seq', '=', beforeSeq)
      .executeTakeFirst();
    if (anchor)
      query = query.where((eb) =>
        eb.or([
          eb('updated_at', '<', anchor.updated_at),
          eb.and([eb('updated_at', '=', anchor.updated_at), eb('seq', '<', beforeSeq)]),
        ]),
      );
  }
  return query.execute();
}

/** Apps on the Email API allow list (an approved or auto-approved request), one row per app, for revocation. */
export function listGrantedApps(db: Kysely<DB>) {
  return db
    .selectFrom('access_requests')
    .select((eb) => [
      'app_key',
      eb.fn.max('app_name').as('app_name'),
      eb.fn.max('status').as('status'),
      eb.fn.max('decided_at').as('decided_at'),
    ])
    .where('status', 'in', ['approved', 'auto-approved'])
    .groupBy('app_key')
    .orderBy('app_key')
    .execute();
}

/** Apps with a request waiting for a person. */
export async function listAppsInReview(db: Kysely<DB>): Promise<string[]> {
  const rows = await db
    .selectFrom('access_requests')
    .select('app_key')
    .distinct()
    .where('status', '=', 'in-review')
    .execute();
  return rows.map((r) => r.app_key);
}

/** What the reviewer checks about the app itself: its declared documents and its last report. */
export function listAppPrerequisites(db: Kysely<DB>, appKeys: string[]) {
  if (appKeys.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('apps')
    .select(['key', 'privacy_policy_url', 'terms_url', 'stores_personal_data', 'last_reported_at'])
    .where('key', 'in', appKeys)
    .execute();
}

export interface AuditFilter {
  appKey?: string;
  accountId?: string;
  action?: string;
  from?: string;
  to?: string;
  beforeId?: number;
  limit: number;
}

/** The audit log, newest first: what a person reading it wants to see first. */
export function listAuditEntries(db: Kysely<DB>, f: AuditFilter) {
  let query = db
    .selectFrom('audit_events')
    .select(['id', 'at', 'actor_type', 'actor_id', 'action', 'app_key', 'account_id', 'details'])
    .orderBy('id', 'desc')
    .limit(f.limit);
  if (f.appKey) query = query.where('app_key', '=', f.appKey);
  if (f.accountId) query = query.where('account_id', '=', f.accountId);
  if (f.action) query = query.where('action', '=', f.action);
  if (f.from) query = query.where('at', '>=', f.from);
  if (f.to) query = query.where('at', '<', f.to);
  if (f.beforeId !== undefined) query = query.where('id', '<', f.beforeId);
  return query.execute();
}

/** The account's marketing consent events, newest first (consent is keyed by email). */
export function listConsentEvents(db: Kysely<DB>, email: string, limit: number) {
  return db
    .selectFrom('consent_events')
    .select(['key', 'granted', 'notice_version', 'form_url', 'received_at', 'client_id'])
    .where('email', '=', email)
    .orderBy('received_at', 'desc')
    .limit(limit)
    .execute();
}

export function listApps(db: Kysely<DB>) {
  return db
    .selectFrom('apps')
    .select(['key', 'name', 'vendor', 'webhook_url', 'webhook_disabled_at'])
    .orderBy('key')
    .execute();
}

export function findAppWebhookState(db: Kysely<DB>, appKey: string) {
  return db
    .selectFrom('apps')
    .select(['key', 'webhook_disabled_at', 'webhook_disabled_reason', 'last_reported_at'])
    .where('key', '=', appKey)
    .executeTakeFirst();
}

/** Per app: dead letters and recent failed attempts (status 'dead', or pending with an error). */
export function countWebhookProblems(db: Kysely<DB>) {
  return db
    .selectFrom('webhook_messages')
    .select((eb) => [
      'app_key',
      sql<number>`sum(case when ${eb.ref('status')} = 'dead' then 1 else 0 end)`.as('dead'),
      sql<number>`sum(case when ${eb.ref('status')} = 'pending' and ${eb.ref('last_error')} is not null then 1 else 0 end)`.as(
        'failing',
      ),
    ])
    .where('status', 'in', ['dead', 'pending'])
    .groupBy('app_key')
    .execute();
}

/** The app's messages that failed (dead letters, and pending ones whose last attempt failed), newest first. */
export function listFailedMessages(db: Kysely<DB>, appKey: string, limit: number) {
  return db
    .selectFrom('webhook_messages')
    .select([
      'id',
      'event_type',
      'status',
      'attempts',
      'created_at',
      'last_attempt_at',
      'last_status',
      'last_error',
    ])
    .where('app_key', '=', appKey)
    .where((eb) => eb.or([eb('status', '=', 'dead'), eb('last_error', 'is not', null)]))
    .where('status', '!=', 'delivered')
    .orderBy('seq', 'desc')
    .limit(limit)
    .execute();
}

/** Accounts the app holds but did not report again within the cycle, by account id. */
export function listOverdueHoldings(
  db: Kysely<DB>,
  appKey: string,
  reportedBefore: string,
  afterAccountId: string | undefined,
  limit: number,
) {
  let query = db
    .selectFrom('holdings')
    .select(['account_id', 'reported_at'])
    .where('app_key', '=', appKey)
    .where('reported_at', '<', reportedBefore)
    .orderBy('account_id')
    .limit(limit);
  if (afterAccountId !== undefined) query = query.where('account_id', '>', afterAccountId);
  return query.execute();
}
