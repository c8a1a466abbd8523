import type { Insertable, Kysely, Selectable } from 'kysely';
import { compiledInsert, type InsertPart, insertPart } from '../db/compiled.js';
import type { AuditEventTable, DB } from '../db/schema.js';

/**
 * The two hashes are stored as their 32 bytes and read, hashed, shown and signed as lower-case
 * hex (docs/audit-log.md#entry-format): this module converts between the two, so everything
 * above it sees hex only.
 */
type Hex<Row> = Omit<Row, 'prev_hash' | 'hash'> & { prev_hash: string; hash: string };

/** An entry as Custos reads it. */
export type AuditEventRow = Hex<Selectable<AuditEventTable>>;
/** An entry to append (or, in tests, to put back with its id). */
export type NewAuditEvent = Hex<Insertable<AuditEventTable>>;

const bytesOf = (hex: string): Buffer => Buffer.from(hex, 'hex');

/**
 * Custos writes only bytes. SQLite does not enforce a column's type, so a hand edit may leave
 * another value: it is read as its text, and then verifies only if it is the entry's hash.
 */
function hexOf(stored: Uint8Array): string {
  return stored instanceof Uint8Array
    ? Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength).toString('hex')
    : String(stored);
}

function readHex<Row extends { prev_hash: Uint8Array; hash: Uint8Array }>(row: Row): Hex<Row> {
  return { ...row, prev_hash: hexOf(row.prev_hash), hash: hexOf(row.hash) };
}

const appendRows = compiledInsert<DB, Insertable<AuditEventTable>, 'id'>(
  {
    at: true,
    actor_type: true,
    actor_id: true,
    action: true,
    app_key: true,
    installation_id: true,
    account_id: true,
    details: true,
    prev_hash: true,
    hash: true,
  },
  (db, rows) => db.insertInto('audit_events').values(rows as Insertable<AuditEventTable>[]),
);

/** Appended entries (ids from the table) as a part of a statement that writes other tables too. */
export function auditEventsPart(rows: NewAuditEvent[]): InsertPart<DB> {
  return insertPart(appendRows, rows.map(storedHashes));
}

const storedHashes = (row: NewAuditEvent) => ({
  ...row,
  prev_hash: bytesOf(row.prev_hash),
  hash: bytesOf(row.hash),
});

export async function insertAuditEvents(db: Kysely<DB>, rows: NewAuditEvent[]) {
  // Appends take their ids from the table; only a test puts entries back with theirs.
  if (rows.every((row) => row.id === undefined)) {
    await appendRows(db, rows.map(storedHashes));
    return;
  }
  for (let i = 0; i < rows.length; i += 200) {
    await db
      .insertInto('audit_events')
      .values(rows.slice(i, i + 200).map(storedHashes))
      .execute();
  }
}

export async function listAuditEvents(
  db: Kysely<DB>,
  filter: { accountId?: string; action?: string } = {},
): Promise<AuditEventRow[]> {
  let query = db.selectFrom('audit_events').selectAll().orderBy('id');
  if (filter.accountId) query = query.where('account_id', '=', filter.accountId);
  if (filter.action) query = query.where('action', '=', filter.action);
  return (await query.execute()).map(readHex);
}

export interface AuditQuery {
  appKey?: string;
  accountId?: string;
  action?: string;
  from?: string;
  to?: string;
  afterId?: number;
  limit: number;
}

/** A page of entries in chain order, for the admin API (`GET /admin/audit-events`). */
export async function queryAuditEvents(db: Kysely<DB>, q: AuditQuery): Promise<AuditEventRow[]> {
  let query = db.selectFrom('audit_events').selectAll().orderBy('id').limit(q.limit);
  if (q.appKey) query = query.where('app_key', '=', q.appKey);
  if (q.accountId) query = query.where('account_id', '=', q.accountId);
  if (q.action) query = query.where('action', '=', q.action);
  // ISO-8601 UTC text compares in time order on both engines.
  if (q.from) query = query.where('at', '>=', q.from);
  if (q.to) query = query.where('at', '<', q.to);
  if (q.afterId !== undefined) query = query.where('id', '>', q.afterId);
  return (await query.execute()).map(readHex);
}

/** The next `limit` rows of the chain after `afterId` (up to `upToId`): verification reads it in bounded batches. */
export async function readChainBatch(
  db: Kysely<DB>,
  afterId: number,
  limit: number,
  upToId?: number,
): Promise<AuditEventRow[]> {
  let query = db.selectFrom('audit_events').selectAll().where('id', '>', afterId);
  if (upToId !== undefined) query = query.where('id', '<=', upToId);
  return (await query.orderBy('id').limit(limit).execute()).map(readHex);
}

/** The tip of the chain: the next entry links to it, a checkpoint ends at it. */
export async function findLastEvent(db: Kysely<DB>): Promise<{ id: number; hash: string } | undefined> {
  const row = await db
    .selectFrom('audit_events')
    .select(['id', 'hash'])
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row && { id: row.id, hash: hexOf(row.hash) };
}

export async function findEventHash(db: Kysely<DB>, id: number): Promise<{ hash: string } | undefined> {
  const row = await db.selectFrom('audit_events').select('hash').where('id', '=', id).executeTakeFirst();
  return row && { hash: hexOf(row.hash) };
}

export async function countEvents(db: Kysely<DB>): Promise<number> {
  const row = await db
    .selectFrom('audit_events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** One account's latest entries of one action, newest first (served by the account index). */
export function listLatestEventsOfAccount(db: Kysely<DB>, accountId: string, action: string, limit: number) {
  return db
    .selectFrom('audit_events')
    .select(['at', 'actor_type', 'actor_id', 'app_key', 'details'])
    .where('account_id', '=', accountId)
    .where('action', '=', action)
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
}
