import { type Insertable, type Kysely, type Selectable, sql } from 'kysely';
import { compiledQuery } from '../db/compiled.js';
import type { Database } from '../db/dialect.js';
import type { ConsentEventTable, ConsentRequestTable, DB } from '../db/schema.js';

export type NewConsentRequest = Insertable<ConsentRequestTable>;
export type ConsentRequest = Selectable<ConsentRequestTable>;

// Rows per INSERT statement, to stay under either engine's bound-parameter limit.
const INSERT_CHUNK = 1000;

export async function insertRequests(db: Kysely<DB>, rows: NewConsentRequest[]): Promise<void> {
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    await db
      .insertInto('consent_requests')
      .values(rows.slice(i, i + INSERT_CHUNK))
      .execute();
  }
}

/** The oldest unapplied requests, in the order they were received. */
export function claimPendingRequests(
  database: Database,
  trx: Kysely<DB>,
  limit: number,
): Promise<ConsentRequest[]> {
  const query = trx
    .selectFrom('consent_requests')
    .selectAll()
    .where('applied_at', 'is', null)
    .orderBy('seq')
    .limit(limit);
  return database.skipLocked(query).execute();
}

export async function insertEvents(db: Kysely<DB>, rows: Insertable<ConsentEventTable>[]): Promise<void> {
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    await db
      .insertInto('consent_events')
      .values(rows.slice(i, i + INSERT_CHUNK))
      .onConflict((oc) => oc.columns(['email', 'key', 'request_seq']).doNothing())
      .execute();
  }
}

export async function markApplied(db: Kysely<DB>, seqs: number[], appliedAt: string): Promise<void> {
  for (let i = 0; i < seqs.length; i += INSERT_CHUNK) {
    await db
      .updateTable('consent_requests')
      .set({ applied_at: appliedAt })
      .where('seq', 'in', seqs.slice(i, i + INSERT_CHUNK))
      .execute();
  }
}

export async function countPendingRequests(db: Kysely<DB>): Promise<number> {
  const row = await db
    .selectFrom('consent_requests')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('applied_at', 'is', null)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

const selectChoice = compiledQuery<DB, { granted: number; applied_at: string }, [email: string, key: string]>(
  (db) =>
    db
      .selectFrom('consent_events')
      .select(['granted', 'applied_at'])
      .where('email', '=', '')
      .where('key', '=', '')
      .orderBy('request_seq', 'desc')
      // A literal, so that the compiled query's only parameters are email and key.
      .limit(sql<number>`1`),
);

/** The current choice of one person for one consent key (hot path of consent-config/get). */
export async function findChoice(db: Kysely<DB>, email: string, key: string) {
  const { rows } = await selectChoice(db, email, key);
  return rows[0];
}

export function listEventsByEmail(db: Kysely<DB>, email: string) {
  return db
    .selectFrom('consent_events')
    .selectAll()
    .where('email', '=', email)
    .orderBy('request_seq')
    .orderBy('key')
    .execute();
}

/**
 * Deletes, among the `limit` oldest inbox rows, those applied before `before`; pending rows
 * are never touched, and the consent events keep the proof. Requests are applied in arrival
 * order within moments, so the deletable rows are the front of the table: looking only at a
 * window of the front keeps each batch one short primary-key scan (applied_at has no index,
 * to keep applying cheap). Sequence numbers are never reused after a delete (AUTOINCREMENT on
 * SQLite, a sequence on PostgreSQL), so "the latest received request wins" still holds.
 */
export async function deleteAppliedRequests(db: Kysely<DB>, before: string, limit: number): Promise<number> {
  const result = await db
    .deleteFrom('consent_requests')
    .where('seq', 'in', (eb) =>
      eb
        .selectFrom(
          eb
            .selectFrom('consent_requests')
            .select(['seq', 'applied_at'])
            .orderBy('seq')
            .limit(limit)
            .as('front'),
        )
        .select('front.seq')
        .where('front.applied_at', '<', before),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * One person's accepted requests not yet applied: the privacy centre shows a choice made a
 * moment ago before the worker has turned it into an event (the pending rows are few and
 * indexed, so this scans only them).
 */
export function listPendingRequestsByEmail(db: Kysely<DB>, email: string) {
  return db
    .selectFrom('consent_requests')
    .select(['seq', 'consents', 'received_at', 'channel'])
    .where('applied_at', 'is', null)
    .where('email', '=', email)
    .orderBy('seq')
    .execute();
}
const selectSuppression = compiledQuery<DB, { since: string }, [email: string]>((db) =>
  db.selectFrom('marketing_suppressions').select('since').where('email', '=', ''),
);

/** Whether the person objected to direct marketing (hot path of consent-config/get). */
export async function isSuppressed(db: Kysely<DB>, email: string): Promise<boolean> {
  const { rows } = await selectSuppression(db, email);
  return rows.length > 0;
}

export function findSuppressionOfAccount(db: Kysely<DB>, accountId: string) {
  return db
    .selectFrom('marketing_suppressions')
    .selectAll()
    .where('account_id', '=', accountId)
    .executeTakeFirst();
}

export async function insertSuppression(
  db: Kysely<DB>,
  row: { email: string; account_id: string; request_id: string; since: string },
): Promise<void> {
  await db
    .insertInto('marketing_suppressions')
    .values(row)
    .onConflict((oc) => oc.column('email').doNothing())
    .execute();
}

export async function deleteSuppressionsOfAccount(db: Kysely<DB>, accountId: string): Promise<number> {
  const result = await db
    .deleteFrom('marketing_suppressions')
    .where('account_id', '=', accountId)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
