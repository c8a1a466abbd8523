import type { Kysely } from 'kysely';
import { compiledQueryPerShape } from '../db/compiled.js';
import type { DB } from '../db/schema.js';

export interface HoldingReport {
  accountId: string;
  retrievedAt: string;
}

const placeholders = (n: number) => Array.from({ length: n }, () => '');

/** The holdings upsert, compiled once per number of rows; parameters are the rows' five values, row after row. */
const upsertHoldingRows = compiledQueryPerShape<DB, never, [rows: number]>((db, rows) =>
  db
    .insertInto('holdings')
    .values(
      Array.from({ length: rows }, () => ({
        app_key: '',
        account_id: '',
        retrieved_at: '',
        reported_at: '',
        first_reported_at: '',
      })),
    )
    .onConflict((oc) =>
      oc.columns(['app_key', 'account_id']).doUpdateSet((eb) => ({
        retrieved_at: eb.ref('excluded.retrieved_at'),
        reported_at: eb.ref('excluded.reported_at'),
      })),
    ),
);

/** One batched upsert into the holdings register, keyed (app, account). */
export async function upsertHoldings(
  db: Kysely<DB>,
  appKey: string,
  holdings: readonly HoldingReport[],
  now: string,
): Promise<void> {
  if (holdings.length === 0) return;
  const parameters: string[] = new Array(holdings.length * 5);
  let i = 0;
  for (const h of holdings) {
    parameters[i++] = appKey;
    parameters[i++] = h.accountId;
    parameters[i++] = h.retrievedAt;
    parameters[i++] = now;
    parameters[i++] = now;
  }
  await upsertHoldingRows(db, [holdings.length], parameters);
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
  // A report holds each account once (report-accounts.ts): only an app reporting twice in
  // the batch needs its holdings merged.
  const byApp = new Map<string, HoldingReport[][]>();
  for (const r of reports) {
    const lists = byApp.get(r.appKey);
    if (lists) lists.push(r.holdings);
    else byApp.set(r.appKey, [r.holdings]);
  }
  for (const [appKey, lists] of byApp) {
    const holdings = lists.length === 1 ? (lists[0] as HoldingReport[]) : lastOfEachAccount(lists);
    // Fixed-size chunks: few distinct statements, each compiled and prepared once.
    for (let i = 0; i < holdings.length; i += UPSERT_CHUNK)
      await upsertHoldings(db, appKey, holdings.slice(i, i + UPSERT_CHUNK), now);
  }
  await db
    .updateTable('apps')
    .set({ last_reported_at: now })
    .where('key', 'in', [...byApp.keys()])
    .execute();
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

/** One app's reports of a batch merged: the last report of each account wins. */
function lastOfEachAccount(lists: HoldingReport[][]): HoldingReport[] {
  const latest = new Map<string, HoldingReport>();
  for (const list of lists) for (const h of list) latest.set(h.accountId, h);
  return [...latest.values()];
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

const selectHeldAccountIds = compiledQueryPerShape<DB, { account_id: string }, [ids: number]>((db, ids) =>
  db
    .selectFrom('holdings')
    .select('account_id')
    .where('app_key', '=', '')
    .where('account_id', 'in', placeholders(ids)),
);

/** Accounts among `accountIds` that this app holds (it reported them before), whatever its sites now. */
export async function findHeldAccountIds(db: Kysely<DB>, appKey: string, accountIds: string[]) {
  if (accountIds.length === 0) return [];
  const { rows } = await selectHeldAccountIds(db, [accountIds.length], [appKey, ...accountIds]);
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
