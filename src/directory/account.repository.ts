import { type Insertable, type Kysely, sql, type Updateable } from 'kysely';
import type { AccountTable, DB } from '../db/schema.js';

export function findAccountRow(db: Kysely<DB>, accountId: string) {
  return db.selectFrom('accounts').selectAll().where('account_id', '=', accountId).executeTakeFirst();
}

export function findAccountRows(db: Kysely<DB>, accountIds: string[]) {
  if (accountIds.length === 0) return Promise.resolve([]);
  return db.selectFrom('accounts').selectAll().where('account_id', 'in', accountIds).execute();
}

/**
 * Accounts among `accountIds` that are members of at least one of `siteIds`: the only
 * accounts an app installed on those sites may learn anything about. Callers choose the
 * columns; the lists must not be empty.
 */
export function memberAccounts(db: Kysely<DB>, accountIds: string[], siteIds: readonly string[]) {
  return db
    .selectFrom('accounts')
    .where('account_id', 'in', accountIds)
    .where((eb) =>
      eb.exists(
        eb
          .selectFrom('site_members')
          .select('site_members.account_id')
          .whereRef('site_members.account_id', '=', 'accounts.account_id')
          .where('site_members.site_id', 'in', siteIds),
      ),
    );
}

/** Only what an account's state needs, no PD. */
export function findAccountStateRows(db: Kysely<DB>, accountIds: string[]) {
  if (accountIds.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('accounts')
    .select(['account_id', 'status', 'pd_updated_at'])
    .where('account_id', 'in', accountIds)
    .execute();
}

export function findMemberAccountRows(db: Kysely<DB>, accountIds: string[], siteIds: readonly string[]) {
  if (accountIds.length === 0 || siteIds.length === 0) return Promise.resolve([]);
  return memberAccounts(db, accountIds, siteIds).selectAll().execute();
}

/**
 * Member accounts of `siteIds` whose email is `email` (normalized) or whose public name is
 * `foldedName` (lower case): exact matches on the unique email index and the lower(nickname)
 * index, never a prefix.
 */
export function findMemberAccountRowsMatching(
  db: Kysely<DB>,
  match: { email: string | undefined; foldedName: string | undefined },
  siteIds: readonly string[],
  limit: number,
) {
  if (siteIds.length === 0 || (match.email === undefined && match.foldedName === undefined))
    return Promise.resolve([]);
  return db
    .selectFrom('accounts')
    .selectAll()
    .where((eb) =>
      eb.or([
        ...(match.email === undefined ? [] : [eb('email', '=', match.email)]),
        ...(match.foldedName === undefined ? [] : [eb(sql<string>`lower(nickname)`, '=', match.foldedName)]),
      ]),
    )
    .where((eb) =>
      eb.exists(
        eb
          .selectFrom('site_members')
          .select('site_members.account_id')
          .whereRef('site_members.account_id', '=', 'accounts.account_id')
          .where('site_members.site_id', 'in', siteIds),
      ),
    )
    .orderBy('account_id')
    .limit(limit)
    .execute();
}

/** Accounts holding any of these (normalized) emails, for uniqueness checks. */
export function findAccountIdsByEmails(db: Kysely<DB>, emails: string[]) {
  if (emails.length === 0) return Promise.resolve([]);
  return db.selectFrom('accounts').select(['account_id', 'email']).where('email', 'in', emails).execute();
}

/** The open account holding this (normalized) email, if any. */
export async function findOpenAccountIdByEmail(db: Kysely<DB>, email: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('accounts')
    .select('account_id')
    .where('email', '=', email)
    .where('status', '=', 'active')
    .executeTakeFirst();
  return row?.account_id;
}

export async function insertAccounts(db: Kysely<DB>, rows: Insertable<AccountTable>[]) {
  if (rows.length === 0) return;
  await db.insertInto('accounts').values(rows).execute();
}

export async function updateAccount(db: Kysely<DB>, accountId: string, changes: Updateable<AccountTable>) {
  await db.updateTable('accounts').set(changes).where('account_id', '=', accountId).execute();
}

type AccountEvent = {
  account_id: string;
  type: 'account.created' | 'account.updated' | 'account.closed';
  at: string;
};

export async function insertAccountEvent(db: Kysely<DB>, event: AccountEvent | AccountEvent[]) {
  if (Array.isArray(event) && event.length === 0) return;
  await db.insertInto('account_events').values(event).execute();
}

export function listAccountEvents(db: Kysely<DB>, accountId: string) {
  return db
    .selectFrom('account_events')
    .select(['id', 'type', 'at'])
    .where('account_id', '=', accountId)
    .orderBy('id')
    .execute();
}
