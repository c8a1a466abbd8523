import type { Insertable, Kysely, Selectable, Updateable } from 'kysely';
import type { DB, DsrAppPartTable, DsrEventTable, DsrExportTable, DsrRequestTable } from '../db/schema.js';

export type DsrRequestRow = Selectable<DsrRequestTable>;
export type DsrAppPartRow = Selectable<DsrAppPartTable>;

export async function insertRequest(db: Kysely<DB>, row: Insertable<DsrRequestTable>): Promise<void> {
  await db.insertInto('dsr_requests').values(row).execute();
}

export function findRequest(db: Kysely<DB>, id: string): Promise<DsrRequestRow | undefined> {
  return db.selectFrom('dsr_requests').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function updateRequest(
  db: Kysely<DB>,
  id: string,
  changes: Updateable<DsrRequestTable>,
): Promise<void> {
  await db.updateTable('dsr_requests').set(changes).where('id', '=', id).execute();
}

export interface RequestFilter {
  accountId?: string;
  type?: string;
  state?: string;
  regime?: string;
  open?: boolean;
  limit: number;
}

export function listRequests(db: Kysely<DB>, f: RequestFilter): Promise<DsrRequestRow[]> {
  let q = db.selectFrom('dsr_requests').selectAll();
  if (f.accountId) q = q.where('account_id', '=', f.accountId);
  if (f.type) q = q.where('type', '=', f.type);
  if (f.state) q = q.where('state', '=', f.state);
  if (f.regime) q = q.where('regime', '=', f.regime);
  if (f.open) q = q.where('closed_at', 'is', null);
  return q.orderBy('received_at', 'desc').orderBy('id').limit(f.limit).execute();
}

/** Open requests past their state's time limit or their due day, or whose last step failed. */
export function listNeedingAttention(db: Kysely<DB>, now: string, today: string): Promise<DsrRequestRow[]> {
  return db
    .selectFrom('dsr_requests')
    .selectAll()
    .where('closed_at', 'is', null)
    .where((eb) =>
      eb.or([
        eb('state_limit_at', '<', now),
        eb('due_on', '<', today),
        eb('last_error', 'is not', null),
        eb('attention_since', 'is not', null),
      ]),
    )
    .orderBy('received_at')
    .limit(500)
    .execute();
}

/** Open requests whose current state is Custos's own step and is due (a backstop for lost jobs). */
export function listDueSystemSteps(db: Kysely<DB>, now: string): Promise<DsrRequestRow[]> {
  return db
    .selectFrom('dsr_requests')
    .selectAll()
    .where('closed_at', 'is', null)
    .where((eb) =>
      eb.or([
        eb('owner', '=', 'system'),
        eb.and([eb('state', '=', 'awaiting-apps'), eb('apps_deadline_at', '<=', now)]),
        eb.and([eb('state', '=', 'grace-period'), eb('grace_until', '<=', now)]),
      ]),
    )
    .limit(500)
    .execute();
}

export function listOpenRequests(db: Kysely<DB>): Promise<DsrRequestRow[]> {
  return db.selectFrom('dsr_requests').selectAll().where('closed_at', 'is', null).limit(5000).execute();
}

export async function insertEvent(db: Kysely<DB>, row: Insertable<DsrEventTable>): Promise<void> {
  await db.insertInto('dsr_events').values(row).execute();
}

export function listEvents(db: Kysely<DB>, requestId: string) {
  return db.selectFrom('dsr_events').selectAll().where('request_id', '=', requestId).orderBy('id').execute();
}

export async function insertAppParts(db: Kysely<DB>, rows: Insertable<DsrAppPartTable>[]): Promise<void> {
  if (rows.length === 0) return;
  await db
    .insertInto('dsr_app_parts')
    .values(rows)
    .onConflict((oc) => oc.columns(['request_id', 'app_key']).doNothing())
    .execute();
}

export function findAppPart(db: Kysely<DB>, requestId: string, appKey: string) {
  return db
    .selectFrom('dsr_app_parts')
    .selectAll()
    .where('request_id', '=', requestId)
    .where('app_key', '=', appKey)
    .executeTakeFirst();
}

export async function updateAppPart(
  db: Kysely<DB>,
  requestId: string,
  appKey: string,
  changes: Updateable<DsrAppPartTable>,
): Promise<void> {
  await db
    .updateTable('dsr_app_parts')
    .set(changes)
    .where('request_id', '=', requestId)
    .where('app_key', '=', appKey)
    .execute();
}

/** Each app's part, with its message's delivery state from the outbox when it is still there. */
export function listAppParts(db: Kysely<DB>, requestId: string) {
  return db
    .selectFrom('dsr_app_parts as p')
    .leftJoin('webhook_messages as m', 'm.id', 'p.message_id')
    .select([
      'p.app_key',
      'p.event_type',
      'p.message_id',
      'p.told_at',
      'p.answered_at',
      'p.part',
      'p.confirmed_at',
      'm.status as message_status',
      'm.delivered_at',
      'm.last_error as message_error',
    ])
    .where('p.request_id', '=', requestId)
    .orderBy('p.app_key')
    .execute();
}

export async function upsertExport(db: Kysely<DB>, row: Insertable<DsrExportTable>): Promise<void> {
  await db
    .insertInto('dsr_exports')
    .values(row)
    .onConflict((oc) =>
      oc.column('request_id').doUpdateSet({
        content: row.content,
        bytes: row.bytes,
        created_at: row.created_at,
        delete_after: row.delete_after,
        deleted_at: null,
      }),
    )
    .execute();
}

export function findExport(db: Kysely<DB>, requestId: string) {
  return db.selectFrom('dsr_exports').selectAll().where('request_id', '=', requestId).executeTakeFirst();
}

export async function markExportDownloaded(db: Kysely<DB>, requestId: string, at: string): Promise<void> {
  await db
    .updateTable('dsr_exports')
    .set({ downloaded_at: at })
    .where('request_id', '=', requestId)
    .execute();
}

/**
 * Clears up to `limit` exports past their retention, and the parts apps uploaded for them
 * (their data is in the export); the rows stay as the record that they existed.
 */
export async function clearExpiredExports(db: Kysely<DB>, now: string, limit: number): Promise<number> {
  const ids = await db
    .selectFrom('dsr_exports')
    .select('request_id')
    .where('delete_after', '<=', now)
    .where('deleted_at', 'is', null)
    .limit(limit)
    .execute();
  if (ids.length === 0) return 0;
  const requestIds = ids.map((r) => r.request_id);
  await db
    .updateTable('dsr_exports')
    .set({ content: null, deleted_at: now })
    .where('request_id', 'in', requestIds)
    .execute();
  await db.updateTable('dsr_app_parts').set({ part: null }).where('request_id', 'in', requestIds).execute();
  return ids.length;
}

/**
 * Clears every export and every uploaded part of the account's requests (its erasure): the
 * rows stay, with their times, as the record that they existed.
 */
export async function clearExportsOfAccount(db: Kysely<DB>, accountId: string, now: string): Promise<void> {
  const requestIds = db.selectFrom('dsr_requests').select('id').where('account_id', '=', accountId);
  await db
    .updateTable('dsr_exports')
    .set({ content: null, deleted_at: now })
    .where('request_id', 'in', requestIds)
    .where('deleted_at', 'is', null)
    .execute();
  await db
    .updateTable('dsr_app_parts')
    .set({ part: null })
    .where('request_id', 'in', requestIds)
    .where('part', 'is not', null)
    .execute();
}

/** The account's restriction of one kind ('restricted' or 'erasure-pending'), if it stands. */
export function findRestriction(db: Kysely<DB>, accountId: string, kind: string) {
  return db
    .selectFrom('account_restrictions')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('kind', '=', kind)
    .executeTakeFirst();
}

/** The kinds of restriction standing on the account. */
export async function listRestrictionKinds(db: Kysely<DB>, accountId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('account_restrictions')
    .select('kind')
    .where('account_id', '=', accountId)
    .execute();
  return rows.map((r) => r.kind);
}

/** The accounts among `accountIds` under any restriction, each once. */
export async function listRestricted(db: Kysely<DB>, accountIds: readonly string[]): Promise<string[]> {
  if (accountIds.length === 0) return [];
  const rows = await db
    .selectFrom('account_restrictions')
    .select('account_id')
    .distinct()
    .where('account_id', 'in', [...accountIds])
    .execute();
  return rows.map((r) => r.account_id);
}

/** Adds the account's restriction of this kind; one that stands already now names this request. */
export async function upsertRestriction(
  db: Kysely<DB>,
  row: { account_id: string; kind: string; request_id: string; since: string },
): Promise<void> {
  await db
    .insertInto('account_restrictions')
    .values(row)
    .onConflict((oc) => oc.columns(['account_id', 'kind']).doUpdateSet({ request_id: row.request_id }))
    .execute();
}

/** Removes the account's restriction of this kind only; the other kind, if any, stands. */
export async function deleteRestriction(db: Kysely<DB>, accountId: string, kind: string): Promise<boolean> {
  const result = await db
    .deleteFrom('account_restrictions')
    .where('account_id', '=', accountId)
    .where('kind', '=', kind)
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
