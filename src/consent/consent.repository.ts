import { type Insertable, type Kysely, type QueryCreator, type Selectable, sql } from 'kysely';
import { compiledInsert, compiledQuery, type InsertPart, insertPart } from '../db/compiled.js';
import type { Database } from '../db/dialect.js';
import type { ConsentChannel, ConsentEventTable, ConsentRequestTable, DB } from '../db/schema.js';

export type NewConsentRequest = Insertable<ConsentRequestTable>;
export type ConsentRequest = Selectable<ConsentRequestTable>;

// Rows per UPDATE statement, to stay under either engine's bound-parameter limit.
const UPDATE_CHUNK = 1000;

/** The channel of a request or event that names none (the columns' default): the ConsentHub API. */
const API_CHANNEL: ConsentChannel = 'api';

/** What a request says about how it was sent, and its event repeats: columns of both tables. */
const SENT = {
  email: true,
  locale: true,
  form_url: true,
  provider_id: true,
  client_id: true,
  remote_addr: true,
  user_agent: true,
  received_at: true,
  applied_at: true,
  channel: true,
  account_id: true,
} as const satisfies {
  readonly [K in Extract<keyof NewConsentRequest, keyof Insertable<ConsentEventTable>>]?: true;
};

const insertRequestRows = compiledInsert<DB, NewConsentRequest, 'seq'>(
  { ...SENT, consents: true },
  (db, rows) => db.insertInto('consent_requests').values(rows as NewConsentRequest[]),
);

export async function insertRequests(db: Kysely<DB>, rows: NewConsentRequest[]): Promise<void> {
  await insertRequestRows(
    db,
    rows.map((row) => (row.channel === undefined ? { ...row, channel: API_CHANNEL } : row)),
  );
}

const selectAnyPending = compiledQuery<DB, { seq: number }, []>((db) =>
  db
    .selectFrom('consent_requests')
    .select('seq')
    .where('applied_at', 'is', null)
    // A literal, so that the compiled query has no parameters.
    .limit(sql<number>`1`),
);

/**
 * Whether any request waits to be applied: a read on the pending index, so that an idle
 * worker's polls cost one lookup, not a write transaction (and on SQLite, not the write lock).
 */
export async function hasPendingRequests(db: Kysely<DB>): Promise<boolean> {
  return (await selectAnyPending(db)).rows.length > 0;
}

/**
 * Claims the oldest unapplied requests and marks them applied at `appliedAt`, returning them
 * as they were received, in the order they were received. The applier holds the turn
 * (consent-applier.ts); the row locks (PostgreSQL) keep a server of an earlier version,
 * which takes no turn, from claiming the same rows. Marking compacts a request: its consent
 * events, written in the same transaction, hold everything it said, so the row keeps only
 * who sent it, for whom and when (what the inbox's clean-up and an operator looking at
 * recent traffic read) until the clean-up deletes it.
 *
 * PostgreSQL does both in one statement (each is a round trip: an update of the rows a
 * locking read picks, returning that read's rows); SQLite reads, then updates (its
 * statements are calls in the process, and its RETURNING names only the updated table).
 */
export async function claimPendingRequests(
  database: Database,
  trx: Kysely<DB>,
  limit: number,
  appliedAt: string,
): Promise<ConsentRequest[]> {
  if (!database.statementsAreRoundTrips) {
    const requests = await database.skipLocked(pendingRequests(trx, limit)).execute();
    await markApplied(
      trx,
      requests.map((r) => r.seq),
      appliedAt,
    );
    return requests;
  }
  const { rows } = await claimAndMark(trx, limit, appliedAt);
  // RETURNING's order is not the read's.
  return rows.sort((a, b) => Number(a.seq) - Number(b.seq));
}

const pendingRequests = (db: QueryCreator<DB>, limit: number) =>
  db.selectFrom('consent_requests').selectAll().where('applied_at', 'is', null).orderBy('seq').limit(limit);

/**
 * The columns the claim returns, named: a prepared statement's result may not change type,
 * so `claimed.*` would fail once another process's migration added a column to the table.
 */
const CLAIMED = { ...SENT, seq: true, consents: true } as const satisfies Record<keyof ConsentRequest, true>;

/**
 * PostgreSQL's claim, compiled and prepared once: its parameters are the limit, then the
 * time applied (the compacted columns' other values are literals). The row locks are
 * PostgreSQL's own (`database.skipLocked`'s form there).
 */
const claimAndMark = compiledQuery<DB, ConsentRequest, [limit: number, appliedAt: string]>((db) =>
  db
    .with('claimed', (db) => pendingRequests(db, 0).forUpdate().skipLocked())
    .updateTable('consent_requests')
    .from('claimed')
    .set(compacted(''))
    .whereRef('consent_requests.seq', '=', 'claimed.seq')
    .returning(
      (Object.keys(CLAIMED) as (keyof ConsentRequest)[]).map((column) => `claimed.${column}` as const),
    ),
);

/**
 * An applied request as it is kept until the clean-up deletes it (see claimPendingRequests):
 * the time applied is the one parameter, the rest literals.
 */
const compacted = (appliedAt: string) =>
  ({
    applied_at: appliedAt,
    consents: sql.lit('[]'),
    form_url: sql.lit(null),
    provider_id: sql.lit(null),
    remote_addr: sql.lit(''),
    user_agent: sql.lit(null),
  }) as const;

async function markApplied(db: Kysely<DB>, seqs: number[], appliedAt: string): Promise<void> {
  for (let i = 0; i < seqs.length; i += UPDATE_CHUNK) {
    await db
      .updateTable('consent_requests')
      .set(compacted(appliedAt))
      .where('seq', 'in', seqs.slice(i, i + UPDATE_CHUNK))
      .execute();
  }
}

/** A consent event as the applier records it: the exact text shown, its SHA-256 and notice version. */
export type NewConsentEvent = Omit<Insertable<ConsentEventTable>, 'text_lead' | 'text_trail'>;

/**
 * How an event is stored: shown a registered notice's text (the version was resolved from
 * the SHA-256 of the trimmed text, and notices are never edited or deleted), it names the
 * notice and keeps only the white space around its text; any other text is kept whole.
 */
function storedEvent(event: NewConsentEvent): Insertable<ConsentEventTable> {
  const shown = event.displayed_text;
  const channel = event.channel ?? API_CHANNEL;
  if (shown == null || event.notice_version == null) return { ...event, channel };
  const start = shown.length - shown.trimStart().length;
  const end = shown.trimEnd().length;
  return {
    ...event,
    channel,
    displayed_text: null,
    text_sha256: null,
    text_lead: start > 0 ? shown.slice(0, start) : null,
    text_trail: end < shown.length ? shown.slice(end) : null,
  };
}

const insertEventRows = compiledInsert<DB, Insertable<ConsentEventTable>>(
  {
    ...SENT,
    request_seq: true,
    key: true,
    granted: true,
    displayed_text: true,
    text_sha256: true,
    notice_version: true,
    text_lead: true,
    text_trail: true,
  },
  (db, rows) =>
    db
      .insertInto('consent_events')
      .values(rows as Insertable<ConsentEventTable>[])
      .onConflict((oc) => oc.columns(['email', 'key', 'request_seq']).doNothing()),
);

export async function insertEvents(db: Kysely<DB>, rows: NewConsentEvent[]): Promise<void> {
  await insertEventRows(db, rows.map(storedEvent));
}

/** The events as a part of a statement that writes other tables too (insertTogether). */
export function eventsPart(rows: NewConsentEvent[]): InsertPart<DB> {
  return insertPart(insertEventRows, rows.map(storedEvent));
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

/**
 * One person's consent events, oldest first, each with the exact text shown and its SHA-256:
 * an event that names its notice gets them from the notice (consent_notices is append-only),
 * the white space it was shown around the text included.
 */
export function listEventsByEmail(db: Kysely<DB>, email: string) {
  return db
    .selectFrom('consent_events as e')
    .leftJoin('consent_notices as n', (join) =>
      join.onRef('n.key', '=', 'e.key').onRef('n.version', '=', 'e.notice_version'),
    )
    .select([
      'e.request_seq',
      'e.email',
      'e.key',
      'e.granted',
      sql<
        string | null
      >`coalesce(e.displayed_text, coalesce(e.text_lead, '') || n.text || coalesce(e.text_trail, ''))`.as(
        'displayed_text',
      ),
      sql<string | null>`coalesce(e.text_sha256, n.sha256)`.as('text_sha256'),
      'e.notice_version',
      'e.form_url',
      'e.locale',
      'e.provider_id',
      'e.client_id',
      'e.remote_addr',
      'e.user_agent',
      'e.received_at',
      'e.applied_at',
      'e.channel',
      'e.account_id',
    ])
    .where('e.email', '=', email)
    .orderBy('e.request_seq')
    .orderBy('e.key')
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
/** The account's first suppression (an account may have one per address it had). */
export function findSuppressionOfAccount(db: Kysely<DB>, accountId: string) {
  return db
    .selectFrom('marketing_suppressions')
    .selectAll()
    .where('account_id', '=', accountId)
    .orderBy('since')
    .orderBy('email')
    .limit(1)
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
