import type { Insertable, Kysely, Selectable, Updateable } from 'kysely';
import type { AccessRequestTable, AccessUseCaseTable, DB } from '../db/schema.js';
import { GRANTING_STATUSES, OPEN_STATUSES } from './access.rules.js';

export type AccessRequestRow = Selectable<AccessRequestTable>;

export function listUseCases(db: Kysely<DB>) {
  return db.selectFrom('access_use_cases').selectAll().orderBy('id').execute();
}

export async function insertUseCase(db: Kysely<DB>, row: Insertable<AccessUseCaseTable>) {
  await db.insertInto('access_use_cases').values(row).execute();
}

export function findUseCases(db: Kysely<DB>, ids: string[]) {
  if (ids.length === 0) return Promise.resolve([]);
  return db.selectFrom('access_use_cases').selectAll().where('id', 'in', ids).execute();
}

export async function insertRequest(db: Kysely<DB>, row: Insertable<AccessRequestTable>) {
  await db.insertInto('access_requests').values(row).execute();
}

export function findRequest(db: Kysely<DB>, id: string) {
  return db.selectFrom('access_requests').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Moves a request only if it is still in `from`: a concurrent decision cannot be overwritten. */
export async function transitionRequest(
  db: Kysely<DB>,
  id: string,
  from: AccessRequestTable['status'],
  changes: Updateable<AccessRequestTable>,
): Promise<boolean> {
  const result = await db
    .updateTable('access_requests')
    .set(changes)
    .where('id', '=', id)
    .where('status', '=', from)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export function findGrantingRequests(db: Kysely<DB>, appKey: string) {
  return db
    .selectFrom('access_requests')
    .selectAll()
    .where('app_key', '=', appKey)
    .where('status', 'in', [...GRANTING_STATUSES])
    .orderBy('seq')
    .execute();
}

/** The app's request waiting for a decision, if any (there is at most one). */
export function findOpenRequest(db: Kysely<DB>, appKey: string) {
  return db
    .selectFrom('access_requests')
    .select('id')
    .where('app_key', '=', appKey)
    .where('status', 'in', [...OPEN_STATUSES])
    .executeTakeFirst();
}

/** When the app's requests filed since `since` were submitted, oldest first. */
export async function listSubmissionTimes(db: Kysely<DB>, appKey: string, since: string): Promise<string[]> {
  const rows = await db
    .selectFrom('access_requests')
    .select('submitted_at')
    .where('app_key', '=', appKey)
    .where('submitted_at', '>=', since)
    .orderBy('submitted_at')
    .execute();
  return rows.map((r) => r.submitted_at);
}

/**
 * The allow list (docs/wire-contracts.md#approval-and-its-limits): an app is on it while one of its
 * requests is approved.
 */
export async function isOnAllowList(db: Kysely<DB>, appKey: string): Promise<boolean> {
  const row = await db
    .selectFrom('access_requests')
    .select('seq')
    .where('app_key', '=', appKey)
    .where('status', 'in', [...GRANTING_STATUSES])
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

export function listRequests(
  db: Kysely<DB>,
  filter: { status?: AccessRequestTable['status']; appKey?: string; afterSeq?: number; limit: number },
) {
  let query = db.selectFrom('access_requests').selectAll().orderBy('seq').limit(filter.limit);
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.appKey) query = query.where('app_key', '=', filter.appKey);
  if (filter.afterSeq !== undefined) query = query.where('seq', '>', filter.afterSeq);
  return query.execute();
}
