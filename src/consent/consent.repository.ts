import { type CompiledQuery, type Insertable, type Kysely, type Selectable, sql } from 'kysely';
import { compiledQuery } from '../db/compiled.js';
import type { Database } from '../db/dialect.js';
import type { ConsentEventTable, ConsentRequestTable, DB } from '../db/schema.js';

export type NewConsentRequest = Insertable<ConsentRequestTable>;
export type ConsentRequest = Selectable<ConsentRequestTable>;

// Rows per INSERT statement, to stay under either engine's bound-parameter limit.
const INSERT_CHUNK = 1000;

/** The inbox's inserts for `rows`, compiled: the caller commits them (see ConsentInbox). */
export function compileInsertRequests(db: Kysely<DB>, rows: NewConsentRequest[]): CompiledQuery[] {
  const statements: CompiledQuery[] = [];
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    statements.push(
      db
        .insertInto('consent_requests')
        .values(rows.slice(i, i + INSERT_CHUNK))
        .compile(),
    );
  }
  return statements;
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

/**
 * A person's current choice for one consent key and whether they objected to direct
 * marketing, in one statement (the hot path of consent-config/get): the latest event of the
 * key by arrival, and the suppression by email.
 */
const selectMarketingState = compiledQuery<
  DB,
  { granted: number | null; suppressed: number | boolean },
  [email: string, key: string, email: string]
>((db) =>
  db.selectNoFrom((eb) => [
    eb
      .selectFrom('consent_events')
      .select('granted')
      .where('email', '=', '')
      .where('key', '=', '')
      .orderBy('request_seq', 'desc')
      // A literal, so that the compiled query's only parameters are the email, key and email.
      .limit(sql<number>`1`)
      .as('granted'),
    eb
      .exists(eb.selectFrom('marketing_suppressions').select('since').where('email', '=', ''))
      .as('suppressed'),
  ]),
);

/** `granted` is undefined when the person never chose for the key. */
export async function findMarketingState(
  db: Kysely<DB>,
  email: string,
  key: string,
): Promise<{ granted: boolean | undefined; suppressed: boolean }> {
  const { rows } = await selectMarketingState(db, email, key, email);
  const row = rows[0];
  return {
    granted: row?.granted == null ? undefined : row.granted === 1,
    // SQLite answers EXISTS with 0 or 1, PostgreSQL with a boolean.
    suppressed: Boolean(row?.suppressed),
  };
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
