import { type Kysely, sql } from 'kysely';
import type { DB } from '../db/schema.js';

/** Every app with its reporting figures: one grouped query over the holdings register. */
export function listAppCompliance(db: Kysely<DB>, overdueBefore: string) {
  return db
    .selectFrom('apps')
    .leftJoin('holdings', 'holdings.app_key', 'apps.key')
    .select((eb) => [
      'apps.key',
      'apps.name',
      'apps.stores_personal_data',
      'apps.last_reported_at',
      eb.fn.count<number>('holdings.account_id').as('held'),
      sql<number>`coalesce(sum(case when ${eb.ref('holdings.reported_at')} < ${overdueBefore} then 1 else 0 end), 0)`.as(
        'overdue',
      ),
    ])
    .groupBy(['apps.key', 'apps.name', 'apps.stores_personal_data', 'apps.last_reported_at'])
    .orderBy('apps.key')
    .execute();
}

/** One app's reporting figures (the access programme's prerequisite check). */
export function findAppReporting(db: Kysely<DB>, appKey: string, overdueBefore: string) {
  return db
    .selectFrom('apps')
    .select((eb) => [
      'apps.last_reported_at',
      eb
        .selectFrom('holdings')
        .select(eb.fn.countAll<number>().as('n'))
        .whereRef('holdings.app_key', '=', 'apps.key')
        .where('holdings.reported_at', '<', overdueBefore)
        .as('overdue'),
    ])
    .where('apps.key', '=', appKey)
    .executeTakeFirst();
}

export function findHoldingsOfAccount(db: Kysely<DB>, accountId: string) {
  return db
    .selectFrom('holdings')
    .select(['app_key', 'retrieved_at', 'reported_at'])
    .where('account_id', '=', accountId)
    .execute();
}

/** Closure notices with the delivery record of the webhook that carried each. */
export function findClosureNoticesOfAccount(db: Kysely<DB>, accountId: string) {
  return db
    .selectFrom('account_notices as n')
    .leftJoin('webhook_messages as m', 'm.id', 'n.message_id')
    .select(['n.app_key', 'n.channel', 'n.told_at', 'm.status', 'm.delivered_at', 'm.attempts'])
    .where('n.account_id', '=', accountId)
    .where('n.event_type', '=', 'account.closed')
    .orderBy('n.told_at')
    .execute();
}

export function findConfirmationsOfAccount(db: Kysely<DB>, accountId: string) {
  return db
    .selectFrom('erasure_confirmations')
    .select(['app_key', 'confirmed_at'])
    .where('account_id', '=', accountId)
    .execute();
}
