import type { Insertable, Kysely } from 'kysely';
import type { DB, OAuthRecordTable } from '../db/schema.js';

/** The protocol library's model name for a person's grant to an app. */
export const GRANT_MODEL = 'Grant';
export const SESSION_MODEL = 'Session';

export async function upsertRecord(db: Kysely<DB>, row: Insertable<OAuthRecordTable>): Promise<void> {
  await db
    .insertInto('oauth_records')
    .values(row)
    .onConflict((oc) =>
      oc.columns(['model', 'id']).doUpdateSet({
        payload: row.payload,
        grant_id: row.grant_id ?? null,
        uid: row.uid ?? null,
        user_code: row.user_code ?? null,
        account_id: row.account_id ?? null,
        client_id: row.client_id ?? null,
        expires_at: row.expires_at ?? null,
      }),
    )
    .execute();
}

const RECORD_COLUMNS = ['payload', 'expires_at', 'consumed_at'] as const;

export function findRecord(db: Kysely<DB>, model: string, id: string) {
  return db
    .selectFrom('oauth_records')
    .select(RECORD_COLUMNS)
    .where('model', '=', model)
    .where('id', '=', id)
    .executeTakeFirst();
}

export function findRecordBy(db: Kysely<DB>, model: string, column: 'uid' | 'user_code', value: string) {
  return db
    .selectFrom('oauth_records')
    .select(RECORD_COLUMNS)
    .where('model', '=', model)
    .where(column, '=', value)
    .executeTakeFirst();
}

export async function consumeRecord(db: Kysely<DB>, model: string, id: string, now: string): Promise<void> {
  await db
    .updateTable('oauth_records')
    .set({ consumed_at: now })
    .where('model', '=', model)
    .where('id', '=', id)
    .execute();
}

export async function deleteRecord(db: Kysely<DB>, model: string, id: string): Promise<void> {
  await db.deleteFrom('oauth_records').where('model', '=', model).where('id', '=', id).execute();
}

/** Every record of the grant, the grant's own row included (its grant_id is its id); returns how many. */
export async function deleteGrantRecords(db: Kysely<DB>, grantId: string): Promise<number> {
  return (await deleteRecordsOfGrants(db, [grantId])).get(grantId) ?? 0;
}

/**
 * Deletes every record of these grants (the grants themselves included) in one statement;
 * returns how many records each grant had.
 */
export async function deleteRecordsOfGrants(
  db: Kysely<DB>,
  grantIds: string[],
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  if (grantIds.length === 0) return counts;
  const deleted = await db
    .deleteFrom('oauth_records')
    .where('grant_id', 'in', grantIds)
    .returning('grant_id')
    .execute();
  for (const { grant_id } of deleted)
    if (grant_id !== null) counts.set(grant_id, (counts.get(grant_id) ?? 0) + 1);
  return counts;
}

/** Every grant (expired or not) given by the account, or to the client: what a revocation ends. */
export function listGrantsBy(db: Kysely<DB>, column: 'account_id' | 'client_id', value: string) {
  return db
    .selectFrom('oauth_records')
    .select(['id', 'account_id', 'client_id'])
    .where(column, '=', value)
    .where('model', '=', GRANT_MODEL)
    .orderBy('id')
    .execute();
}

/** Records of one kind belonging to the grant (token records; the grant itself is GRANT_MODEL). */
export async function deleteGrantRecordsOf(db: Kysely<DB>, model: string, grantId: string): Promise<void> {
  await db.deleteFrom('oauth_records').where('model', '=', model).where('grant_id', '=', grantId).execute();
}

/** The account's grants that have not expired at `now`, newest first (a query to finish). */
function liveAccountGrants(db: Kysely<DB>, accountId: string, now: string) {
  return db
    .selectFrom('oauth_records')
    .select(['id', 'client_id', 'payload', 'created_at', 'last_used_at'])
    .where('account_id', '=', accountId)
    .where('model', '=', GRANT_MODEL)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .orderBy('created_at', 'desc')
    .orderBy('id');
}

/** The account's grants that have not expired at `now`, newest first. */
export function listAccountGrants(db: Kysely<DB>, accountId: string, now: string) {
  return liveAccountGrants(db, accountId, now).execute();
}

/** The person's live grant to one client, the newest if there were ever two. */
export function findAccountGrant(db: Kysely<DB>, accountId: string, clientId: string, now: string) {
  return liveAccountGrants(db, accountId, now).where('client_id', '=', clientId).limit(1).executeTakeFirst();
}

/** Records the grant's use, at most once per `since` (a write a minute, not one per call). */
export async function touchGrant(db: Kysely<DB>, grantId: string, now: string, since: string): Promise<void> {
  await db
    .updateTable('oauth_records')
    .set({ last_used_at: now })
    .where('model', '=', GRANT_MODEL)
    .where('id', '=', grantId)
    .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', since)]))
    .execute();
}

/** Deletes up to `limit` records that expired before `now`; returns how many. */
export async function deleteExpiredRecords(db: Kysely<DB>, now: string, limit: number): Promise<number> {
  const expired = db
    .selectFrom('oauth_records')
    .select(['model', 'id'])
    .where('expires_at', '<', now)
    .limit(limit);
  const rows = await expired.execute();
  let deleted = 0;
  for (const row of rows) {
    await deleteRecord(db, row.model, row.id);
    deleted += 1;
  }
  return deleted;
}

export function listLiveSigningKeys(db: Kysely<DB>) {
  return db
    .selectFrom('oauth_signing_keys')
    .select(['kid', 'private_jwk_enc', 'created_at'])
    .where('retired_at', 'is', null)
    .orderBy('created_at', 'desc')
    .orderBy('kid', 'desc')
    .execute();
}

export async function insertSigningKey(
  db: Kysely<DB>,
  row: { kid: string; private_jwk_enc: string; created_at: string },
): Promise<void> {
  await db.insertInto('oauth_signing_keys').values(row).execute();
}

export async function retireSigningKeys(db: Kysely<DB>, kids: string[], now: string): Promise<void> {
  if (kids.length === 0) return;
  await db.updateTable('oauth_signing_keys').set({ retired_at: now }).where('kid', 'in', kids).execute();
}

/** The authorization server's sessions with the account's browsers (model Session); returns how many. */
export async function deleteAccountSessions(db: Kysely<DB>, accountId: string): Promise<number> {
  const deleted = await db
    .deleteFrom('oauth_records')
    .where('model', '=', SESSION_MODEL)
    .where('account_id', '=', accountId)
    .executeTakeFirst();
  return Number(deleted.numDeletedRows);
}
