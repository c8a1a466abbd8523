import type { Insertable, Kysely } from 'kysely';
import type { DB, SessionTable } from '../db/schema.js';

export async function insertSession(db: Kysely<DB>, row: Insertable<SessionTable>): Promise<void> {
  await db.insertInto('sessions').values(row).execute();
}

export function findSessionByTokenHash(db: Kysely<DB>, tokenHash: string) {
  return db
    .selectFrom('sessions')
    .select([
      'id',
      'account_id',
      'last_seen_at',
      'idle_timeout_s',
      'idle_expires_at',
      'expires_at',
      'revoked_at',
    ])
    .where('token_hash', '=', tokenHash)
    .executeTakeFirst();
}

/** Records activity; a session revoked meanwhile stays revoked. */
export async function touchSession(
  db: Kysely<DB>,
  id: string,
  changes: { last_seen_at: string; idle_expires_at: string },
): Promise<void> {
  await db
    .updateTable('sessions')
    .set(changes)
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .execute();
}

/** The account's sessions that still work at `now`, newest first. */
export function listLiveSessions(db: Kysely<DB>, accountId: string, now: string) {
  return db
    .selectFrom('sessions')
    .select(['id', 'created_at', 'last_seen_at', 'expires_at', 'device_label'])
    .where('account_id', '=', accountId)
    .where('revoked_at', 'is', null)
    .where('idle_expires_at', '>', now)
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .execute();
}

/**
 * Revokes the account's live sessions, all of them or only `ids`, except `keep`; returns how
 * many. The account is always part of the condition, so nobody can end another's session.
 */
export async function revokeSessions(
  db: Kysely<DB>,
  accountId: string,
  now: string,
  only: { ids?: string[]; keep?: string } = {},
): Promise<number> {
  if (only.ids?.length === 0) return 0;
  let query = db
    .updateTable('sessions')
    .set({ revoked_at: now, idle_expires_at: now })
    .where('account_id', '=', accountId)
    .where('revoked_at', 'is', null)
    .where('idle_expires_at', '>', now);
  if (only.ids) query = query.where('id', 'in', only.ids);
  if (only.keep) query = query.where('id', '<>', only.keep);
  const result = await query.executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Deletes up to `limit` sessions that no longer work (expired or revoked); returns how many. */
export async function deleteExpiredSessions(db: Kysely<DB>, limit: number, now: string): Promise<number> {
  const result = await db
    .deleteFrom('sessions')
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('sessions')
        .select('id')
        .where('idle_expires_at', '<=', now)
        .orderBy('idle_expires_at')
        .limit(limit),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
