import type { Insertable, Kysely, Updateable } from 'kysely';
import { compiledQueryPerShape } from '../db/compiled.js';
import type { AccountTable, DB } from '../db/schema.js';

export function findAccountRow(db: Kysely<DB>, accountId: string) {
  return db.selectFrom('accounts').selectAll().where('account_id', '=', accountId).executeTakeFirst();
}

export function findAccountRows(db: Kysely<DB>, accountIds: string[]) {
  if (accountIds.length === 0) return Promise.resolve([]);
  return db.selectFrom('accounts').selectAll().where('account_id', 'in', accountIds).execute();
}

/** Placeholder values for a list of `n` parameters, to compile a query once per list length. */
const placeholders = (n: number) => Array.from({ length: n }, () => '');

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

/** Reporting's read of up to 90 accounts: compiled once per number of ids and of sites. */
const selectMemberAccountStateRows = compiledQueryPerShape<
  DB,
  { account_id: string; status: string; pd_updated_at: string },
  [ids: number, sites: number]
>((db, ids, sites) =>
  memberAccounts(db, placeholders(ids), placeholders(sites)).select([
    'account_id',
    'status',
    'pd_updated_at',
  ]),
);

/** The states (no PD) of the accounts among `accountIds` that are members of one of `siteIds`. */
export async function findMemberAccountStateRows(
  db: Kysely<DB>,
  accountIds: readonly string[],
  siteIds: readonly string[],
) {
  if (accountIds.length === 0 || siteIds.length === 0) return [];
  const shape: [number, number] = [accountIds.length, siteIds.length];
  return (await selectMemberAccountStateRows(db, shape, [...accountIds, ...siteIds])).rows;
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

/** What an account's model needs (account.model.ts): every column but the row's own times. */
const ACCOUNT_COLUMNS = [
  'account_id',
  'account_type',
  'status',
  'organization_id',
  'email',
  'name',
  'nickname',
  'avatar_url',
  'job_title',
  'department',
  'location',
  'time_zone',
  'locale',
  'visibility',
  'pd_updated_at',
  'closed_at',
] as const;
type AccountRow = Pick<AccountTable, (typeof ACCOUNT_COLUMNS)[number]>;

/** The user API's read: compiled once per number of ids and of sites. */
const selectMemberAccountRows = compiledQueryPerShape<DB, AccountRow, [ids: number, sites: number]>(
  (db, ids, sites) => memberAccounts(db, placeholders(ids), placeholders(sites)).select(ACCOUNT_COLUMNS),
);

export async function findMemberAccountRows(
  db: Kysely<DB>,
  accountIds: string[],
  siteIds: readonly string[],
): Promise<AccountRow[]> {
  if (accountIds.length === 0 || siteIds.length === 0) return [];
  const shape: [number, number] = [accountIds.length, siteIds.length];
  return (await selectMemberAccountRows(db, shape, [...accountIds, ...siteIds])).rows;
}

/**
 * Member accounts of `siteIds` whose email is `email` (normalized) or whose public name is
 * `foldedName` (folded by foldName): exact matches on the unique email index and the index
 * of nickname_folded, never a prefix.
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
        ...(match.foldedName === undefined ? [] : [eb('nickname_folded', '=', match.foldedName)]),
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

/**
 * Updates an account only if its visibility settings and the person's choices are still
 * `expected`'s: false when a person's change came in between (it committed first, and wins).
 */
export async function updateAccountIfVisibilityIs(
  db: Kysely<DB>,
  accountId: string,
  expected: { visibility: string; visibility_chosen: string },
  changes: Updateable<AccountTable>,
): Promise<boolean> {
  const result = await db
    .updateTable('accounts')
    .set(changes)
    .where('account_id', '=', accountId)
    .where('visibility', '=', expected.visibility)
    .where('visibility_chosen', '=', expected.visibility_chosen)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
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
