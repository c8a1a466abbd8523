import { type Insertable, type Kysely, sql } from 'kysely';
import type { DB, NotificationTable } from '../db/schema.js';

export function findNotification(db: Kysely<DB>, id: string) {
  return db.selectFrom('notifications').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findNotificationByKey(db: Kysely<DB>, appKey: string, idempotencyKey: string) {
  return db
    .selectFrom('notifications')
    .select(['id', 'request_hash'])
    .where('app_key', '=', appKey)
    .where('idempotency_key', '=', idempotencyKey)
    .executeTakeFirst();
}

export async function insertNotification(
  db: Kysely<DB>,
  row: Insertable<NotificationTable>,
  accountIds: string[],
): Promise<void> {
  await db.insertInto('notifications').values(row).execute();
  await db
    .insertInto('notification_recipients')
    .values(
      accountIds.map((accountId) => ({
        notification_id: row.id,
        account_id: accountId,
        state: 'pending',
        updated_at: row.created_at,
      })),
    )
    .execute();
}

/** Adds `count` to the app's recipients of `day` and returns the new total (one atomic upsert). */
export async function addQuotaUse(
  db: Kysely<DB>,
  appKey: string,
  day: string,
  count: number,
): Promise<number> {
  const row = await db
    .insertInto('notification_quota')
    .values({ app_key: appKey, day, used: count })
    .onConflict((oc) =>
      oc.columns(['app_key', 'day']).doUpdateSet({ used: sql<number>`notification_quota.used + ${count}` }),
    )
    .returning('used')
    .executeTakeFirstOrThrow();
  return Number(row.used);
}

export function listRecipients(db: Kysely<DB>, notificationId: string, state?: string) {
  let query = db
    .selectFrom('notification_recipients')
    .select(['account_id', 'state'])
    .where('notification_id', '=', notificationId);
  if (state !== undefined) query = query.where('state', '=', state);
  return query.orderBy('account_id').execute();
}

export async function setRecipientStates(
  db: Kysely<DB>,
  notificationId: string,
  accountIds: string[],
  state: string,
  at: string,
): Promise<void> {
  if (accountIds.length === 0) return;
  await db
    .updateTable('notification_recipients')
    .set({ state, updated_at: at })
    .where('notification_id', '=', notificationId)
    .where('account_id', 'in', accountIds)
    .where('state', '=', 'pending')
    .execute();
}

export function listPreferences(db: Kysely<DB>, accountIds: string[], appKey: string) {
  if (accountIds.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('notification_preferences')
    .select(['account_id', 'category', 'enabled'])
    .where('account_id', 'in', accountIds)
    .where('app_key', '=', appKey)
    .execute();
}

export function listPreferencesOf(db: Kysely<DB>, accountId: string) {
  return db
    .selectFrom('notification_preferences')
    .select(['app_key', 'category', 'enabled'])
    .where('account_id', '=', accountId)
    .execute();
}

export async function upsertPreferences(
  db: Kysely<DB>,
  accountId: string,
  appKey: string,
  choices: { category: string; enabled: boolean }[],
  at: string,
): Promise<void> {
  if (choices.length === 0) return;
  await db
    .insertInto('notification_preferences')
    .values(
      choices.map((c) => ({
        account_id: accountId,
        app_key: appKey,
        category: c.category,
        enabled: c.enabled ? 1 : 0,
        updated_at: at,
      })),
    )
    .onConflict((oc) =>
      oc.columns(['account_id', 'app_key', 'category']).doUpdateSet((eb) => ({
        enabled: eb.ref('excluded.enabled'),
        updated_at: eb.ref('excluded.updated_at'),
      })),
    )
    .execute();
}

/** The categories each app has used in notifications to this person (what the person can choose among). */
export function listCategoriesSentTo(db: Kysely<DB>, accountId: string) {
  return db
    .selectFrom('notification_recipients')
    .innerJoin('notifications', 'notifications.id', 'notification_recipients.notification_id')
    .select(['notifications.app_key', 'notifications.category'])
    .where('notification_recipients.account_id', '=', accountId)
    .groupBy(['notifications.app_key', 'notifications.category'])
    .execute();
}

/** Per app and recipient state, the recipients of notifications asked for since `since`. */
export function countRecipientsByApp(db: Kysely<DB>, since: string) {
  return db
    .selectFrom('notification_recipients')
    .innerJoin('notifications', 'notifications.id', 'notification_recipients.notification_id')
    .select((eb) => [
      'notifications.app_key',
      'notification_recipients.state',
      eb.fn.countAll<number>().as('count'),
    ])
    .where('notifications.created_at', '>=', since)
    .groupBy(['notifications.app_key', 'notification_recipients.state'])
    .execute();
}

/** Per app, the requests made since `since`. */
export function countNotificationsByApp(db: Kysely<DB>, since: string) {
  return db
    .selectFrom('notifications')
    .select((eb) => ['app_key', eb.fn.countAll<number>().as('count')])
    .where('created_at', '>=', since)
    .groupBy('app_key')
    .execute();
}

/** Deletes up to `limit` notifications asked for before `before` (their recipients go with them). */
export async function deleteNotificationsBefore(
  db: Kysely<DB>,
  before: string,
  limit: number,
): Promise<number> {
  const ids = await db
    .selectFrom('notifications')
    .select('id')
    .where('created_at', '<', before)
    .orderBy('created_at')
    .limit(limit)
    .execute();
  if (ids.length === 0) return 0;
  const list = ids.map((r) => r.id);
  await db.deleteFrom('notification_recipients').where('notification_id', 'in', list).execute();
  await db.deleteFrom('notifications').where('id', 'in', list).execute();
  return ids.length;
}

export async function deleteQuotaBefore(db: Kysely<DB>, day: string): Promise<void> {
  await db.deleteFrom('notification_quota').where('day', '<', day).execute();
}
