import type { Insertable, Kysely, Selectable } from 'kysely';
import { compiledQuery } from '../db/compiled.js';
import type { Database } from '../db/dialect.js';
import type { ConsentEventTable, ConsentRequestTable, ConsentStateTable, DB } from '../db/schema.js';

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

export async function insertEvents(
  db: Kysely<DB>,
  rows: Insertable<ConsentEventTable>[],
): Promise<{ id: number; request_seq: number; key: string }[]> {
  const inserted: { id: number; request_seq: number; key: string }[] = [];
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    inserted.push(
      ...(await db
        .insertInto('consent_events')
        .values(rows.slice(i, i + INSERT_CHUNK))
        .onConflict((oc) => oc.columns(['request_seq', 'key']).doNothing())
        .returning(['id', 'request_seq', 'key'])
        .execute()),
    );
  }
  return inserted;
}

/** Sets the current choice unless a later-received request already decided it. */
export async function upsertStates(db: Kysely<DB>, rows: ConsentStateTable[]): Promise<void> {
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    await db
      .insertInto('consent_state')
      .values(rows.slice(i, i + INSERT_CHUNK))
      .onConflict((oc) =>
        oc
          .columns(['email', 'key'])
          .doUpdateSet((eb) => ({
            granted: eb.ref('excluded.granted'),
            request_seq: eb.ref('excluded.request_seq'),
            event_id: eb.ref('excluded.event_id'),
            updated_at: eb.ref('excluded.updated_at'),
          }))
          .whereRef('consent_state.request_seq', '<', 'excluded.request_seq'),
      )
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

const selectChoice = compiledQuery<DB, { granted: number; updated_at: string }, [email: string, key: string]>(
  (db) =>
    db
      .selectFrom('consent_state')
      .select(['granted', 'updated_at'])
      .where('email', '=', '')
      .where('key', '=', ''),
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
    .orderBy('id')
    .execute();
}
