import type { Insertable, Kysely } from 'kysely';
import type { AuditEventTable, DB } from '../db/schema.js';

export async function insertAuditEvents(db: Kysely<DB>, rows: Insertable<AuditEventTable>[]) {
  for (let i = 0; i < rows.length; i += 200) {
    await db
      .insertInto('audit_events')
      .values(rows.slice(i, i + 200))
      .execute();
  }
}

export function listAuditEvents(db: Kysely<DB>, filter: { accountId?: string; action?: string } = {}) {
  let query = db.selectFrom('audit_events').selectAll().orderBy('id');
  if (filter.accountId) query = query.where('account_id', '=', filter.accountId);
  if (filter.action) query = query.where('action', '=', filter.action);
  return query.execute();
}

export interface AuditQuery {
  appKey?: string;
  accountId?: string;
  action?: string;
  from?: string;
  to?: string;
  afterId?: number;
  limit: number;
}

/** A page of entries in chain order, for the admin API (`GET /admin/audit-events`). */
export function queryAuditEvents(db: Kysely<DB>, q: AuditQuery) {
  let query = db.selectFrom('audit_events').selectAll().orderBy('id').limit(q.limit);
  if (q.appKey) query = query.where('app_key', '=', q.appKey);
  if (q.accountId) query = query.where('account_id', '=', q.accountId);
  if (q.action) query = query.where('action', '=', q.action);
  // ISO-8601 UTC text compares in time order on both engines.
  if (q.from) query = query.where('at', '>=', q.from);
  if (q.to) query = query.where('at', '<', q.to);
  if (q.afterId !== undefined) query = query.where('id', '>', q.afterId);
  return query.execute();
}

/** The next `limit` rows of the chain after `afterId` (up to `upToId`): verification reads it in bounded batches. */
export function readChainBatch(db: Kysely<DB>, afterId: number, limit: number, upToId?: number) {
  let query = db.selectFrom('audit_events').selectAll().where('id', '>', afterId);
  if (upToId !== undefined) query = query.where('id', '<=', upToId);
  return query.orderBy('id').limit(limit).execute();
}

/** The tip of the chain: the next entry links to it, a checkpoint ends at it. */
export function findLastEvent(db: Kysely<DB>) {
  return db
    .selectFrom('audit_events')
    .select(['id', 'hash'])
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export function findEventHash(db: Kysely<DB>, id: number) {
  return db.selectFrom('audit_events').select('hash').where('id', '=', id).executeTakeFirst();
}

export async function countEvents(db: Kysely<DB>): Promise<number> {
  const row = await db
    .selectFrom('audit_events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** One account's latest entries of one action, newest first (served by the account index). */
export function listLatestEventsOfAccount(db: Kysely<DB>, accountId: string, action: string, limit: number) {
  return db
    .selectFrom('audit_events')
    .select(['at', 'actor_type', 'actor_id', 'app_key', 'details'])
    .where('account_id', '=', accountId)
    .where('action', '=', action)
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
}
