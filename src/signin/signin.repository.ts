import type { Insertable, Kysely } from 'kysely';
import type { DB, LoginLinkTable, SignInCodeTable } from '../db/schema.js';

export async function insertCode(db: Kysely<DB>, row: Insertable<SignInCodeTable>): Promise<void> {
  await db.insertInto('sign_in_codes').values(row).execute();
}

export function findCode(db: Kysely<DB>, id: string) {
  return db.selectFrom('sign_in_codes').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Counts a wrong attempt; false when another request used or exhausted the code meanwhile. */
export async function countAttempt(db: Kysely<DB>, id: string, seenAttempts: number): Promise<boolean> {
  const result = await db
    .updateTable('sign_in_codes')
    .set({ attempts: seenAttempts + 1 })
    .where('id', '=', id)
    .where('attempts', '=', seenAttempts)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Marks the code used; false when it was used (or counted) by another request first. */
export async function useCode(
  db: Kysely<DB>,
  id: string,
  seenAttempts: number,
  at: string,
): Promise<boolean> {
  const result = await db
    .updateTable('sign_in_codes')
    .set({ used_at: at })
    .where('id', '=', id)
    .where('attempts', '=', seenAttempts)
    .where('used_at', 'is', null)
    .where('expires_at', '>', at)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function insertLink(db: Kysely<DB>, row: Insertable<LoginLinkTable>): Promise<void> {
  await db.insertInto('login_links').values(row).execute();
}

export function findLinkByTokenHash(db: Kysely<DB>, tokenHash: string) {
  return db.selectFrom('login_links').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
}

/** Uses the link if it is unused and unexpired at `at`; false otherwise (one winner only). */
export async function useLink(db: Kysely<DB>, id: string, at: string): Promise<boolean> {
  const result = await db
    .updateTable('login_links')
    .set({ used_at: at })
    .where('id', '=', id)
    .where('used_at', 'is', null)
    .where('expires_at', '>', at)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Deletes up to `size` codes and links that expired before `before`; how many. */
export async function deleteExpired(db: Kysely<DB>, before: string, size: number): Promise<number> {
  const codes = await db
    .deleteFrom('sign_in_codes')
    .where(
      'id',
      'in',
      db
        .selectFrom('sign_in_codes')
        .select('id')
        .where('expires_at', '<', before)
        .orderBy('expires_at')
        .limit(size),
    )
    .executeTakeFirst();
  const links = await db
    .deleteFrom('login_links')
    .where(
      'id',
      'in',
      db
        .selectFrom('login_links')
        .select('id')
        .where('expires_at', '<', before)
        .orderBy('expires_at')
        .limit(size),
    )
    .executeTakeFirst();
  return Math.max(Number(codes.numDeletedRows), Number(links.numDeletedRows));
}
