import { type Insertable, type Kysely, sql } from 'kysely';
import type { DB, ReportingReminderTable } from '../db/schema.js';

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

/**
 * One app's reporting figures (the access programme's prerequisite check): its last report,
 * and how many of its holdings were last reported before and since `overdueBefore`.
 */
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
      eb
        .selectFrom('holdings')
        .select(eb.fn.countAll<number>().as('n'))
        .whereRef('holdings.app_key', '=', 'apps.key')
        .where('holdings.reported_at', '>=', overdueBefore)
        .as('current'),
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

/**
 * The notices telling apps of changes to an account (of one event type, or all), with the
 * delivery record of the webhook that carried each: from the outbox while the message is
 * there, from the notice once the message was purged.
 */
export function findNoticesOfAccount(db: Kysely<DB>, accountId: string, eventType?: string) {
  let query = db
    .selectFrom('account_notices as n')
    .leftJoin('webhook_messages as m', 'm.id', 'n.message_id')
    .select((eb) => [
      'n.app_key',
      'n.event_type',
      'n.channel',
      'n.told_at',
      eb.fn.coalesce('m.status', 'n.delivery_status').as('status'),
      eb.fn.coalesce('m.delivered_at', 'n.delivered_at').as('delivered_at'),
    ])
    .where('n.account_id', '=', accountId);
  if (eventType !== undefined) query = query.where('n.event_type', '=', eventType);
  return query.orderBy('n.told_at').execute();
}

export function findConfirmationsOfAccount(db: Kysely<DB>, accountId: string) {
  return db
    .selectFrom('erasure_confirmations')
    .select(['app_key', 'confirmed_at'])
    .where('account_id', '=', accountId)
    .execute();
}

/** Copies the outcome of these outbox messages onto the notices that point at them (before a purge). */
export async function copyDeliveryOutcome(db: Kysely<DB>, messageIds: string[]): Promise<void> {
  if (messageIds.length === 0) return;
  await db
    .updateTable('account_notices')
    .set((eb) => ({
      delivery_status: eb
        .selectFrom('webhook_messages as m')
        .select('m.status')
        .whereRef('m.id', '=', 'account_notices.message_id'),
      delivered_at: eb
        .selectFrom('webhook_messages as m')
        .select('m.delivered_at')
        .whereRef('m.id', '=', 'account_notices.message_id'),
    }))
    .where('message_id', 'in', messageIds)
    .execute();
}

export function findReminder(db: Kysely<DB>, appKey: string, cycleStart: string) {
  return db
    .selectFrom('reporting_reminders')
    .select('sent_at')
    .where('app_key', '=', appKey)
    .where('cycle_start', '=', cycleStart)
    .executeTakeFirst();
}

/** Fails with a unique violation if the app was already reminded in this cycle. */
export async function insertReminder(db: Kysely<DB>, row: Insertable<ReportingReminderTable>): Promise<void> {
  await db.insertInto('reporting_reminders').values(row).execute();
}
