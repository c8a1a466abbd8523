import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

export interface HoldingReport {
  accountId: string;
  retrievedAt: string;
}

/** One batched upsert into the holdings register, keyed (app, account). */
export async function upsertHoldings(
  db: Kysely<DB>,
  appKey: string,
  holdings: HoldingReport[],
  now: string,
): Promise<void> {
  if (holdings.length === 0) return;
  await db
    .insertInto('holdings')
    .values(
      holdings.map((h) => ({
        app_key: appKey,
        account_id: h.accountId,
        retrieved_at: h.retrievedAt,
        reported_at: now,
        first_reported_at: now,
      })),
    )
    .onConflict((oc) =>
      oc.columns(['app_key', 'account_id']).doUpdateSet((eb) => ({
        retrieved_at: eb.ref('excluded.retrieved_at'),
        reported_at: eb.ref('excluded.reported_at'),
      })),
    )
    .execute();
}

const UPSERT_CHUNK = 90;

export interface ReportRecord {
  appKey: string;
  holdings: HoldingReport[];
  /** Accounts the answer called closed: the app was told (GDPR art. 19 evidence). */
  closed: string[];
}

/**
 * Writes a batch of reports: the holdings upsert (the last report of an (app, account) in
 * the batch wins; one statement may not touch a row twice), each app's last report time,
 * and one report notice per (app, closed account), kept at the first time it was told.
 */
export async function recordReports(db: Kysely<DB>, reports: ReportRecord[]): Promise<void> {
  const now = new Date().toISOString();
  const latest = new Map<string, { appKey: string; holding: HoldingReport }>();
  for (const r of reports)
    for (const h of r.holdings)
      latest.set(`${r.appKey}\u0000${h.accountId}`, { appKey: r.appKey, holding: h });
  const byApp = new Map<string, HoldingReport[]>();
  for (const { appKey, holding } of latest.values()) {
    const list = byApp.get(appKey);
    if (list) list.push(holding);
    else byApp.set(appKey, [holding]);
  }
  // Fixed-size chunks: few distinct statement texts, so prepared statements are reused.
  for (const [appKey, holdings] of byApp)
    for (let i = 0; i < holdings.length; i += UPSERT_CHUNK)
      await upsertHoldings(db, appKey, holdings.slice(i, i + UPSERT_CHUNK), now);
  const apps = [...new Set(reports.map((r) => r.appKey))];
  await db.updateTable('apps').set({ last_reported_at: now }).where('key', 'in', apps).execute();
  await insertNotices(
    db,
    reports.flatMap((r) =>
      r.closed.map((accountId) => ({
        id: `report:${r.appKey}:${accountId}`,
        app_key: r.appKey,
        account_id: accountId,
        event_type: 'account.closed',
        channel: 'report' as const,
        message_id: null,
        told_at: now,
      })),
    ),
  );
}

export interface NoticeRow {
  id: string;
  app_key: string;
  account_id: string;
  event_type: string;
  channel: 'webhook' | 'report';
  message_id: string | null;
  told_at: string;
}

/** Records that apps were told; a notice already recorded under the same id is kept as first told. */
export async function insertNotices(db: Kysely<DB>, rows: NoticeRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) {
    await db
      .insertInto('account_notices')
      .values(rows.slice(i, i + 500))
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  }
}

/** Accounts among `accountIds` that this app holds (it reported them before), whatever its sites now. */
export async function findHeldAccountIds(db: Kysely<DB>, appKey: string, accountIds: string[]) {
  if (accountIds.length === 0) return [];
  const rows = await db
    .selectFrom('holdings')
    .select('account_id')
    .where('app_key', '=', appKey)
    .where('account_id', 'in', accountIds)
    .execute();
  return rows.map((r) => r.account_id);
}

/** The app says it erased these accounts' data: it stops holding them, and the statement is kept. */
export async function confirmErasures(
  db: Kysely<DB>,
  appKey: string,
  accountIds: string[],
  now: string,
): Promise<void> {
  if (accountIds.length === 0) return;
  await db
    .deleteFrom('holdings')
    .where('app_key', '=', appKey)
    .where('account_id', 'in', accountIds)
    .execute();
  await db
    .insertInto('erasure_confirmations')
    .values(accountIds.map((accountId) => ({ app_key: appKey, account_id: accountId, confirmed_at: now })))
    .onConflict((oc) => oc.columns(['app_key', 'account_id']).doUpdateSet({ confirmed_at: now }))
    .execute();
}
