import { type Kysely, PostgresAdapter, type RawBuilder, sql } from 'kysely';

// Frozen: this file must never import application code. Portable column types only.

/**
 * What an audit entry costs (docs/audit-log.md#entry-format). `hash` and `prev_hash` are
 * SHA-256 digests: stored as their 32 bytes (SQLite BLOB, PostgreSQL bytea) instead of 64
 * characters of hex, converted exactly (every stored value is first checked to be 64
 * lower-case hex digits, so the bytes convert back to the same text). Custos still reads,
 * hashes, shows and signs them as lower-case hex.
 *
 * The UNIQUE constraint on `hash` (and the index that enforced it) is dropped: no query finds
 * an entry by its hash (entries are read by id, in id order); appends are serialized, each
 * chaining onto the entry with the highest id, so the chain never forks; and tamper evidence
 * comes from recomputing the chain (`custos audit verify`, signed checkpoints), which finds a
 * changed, inserted, deleted or repeated entry without any index.
 *
 * SQLite cannot change a column's type: the table is rebuilt with the same columns, ids and
 * AUTOINCREMENT high-water mark, and every index it had is created again as it was (the
 * partial account and app indexes with their `where`).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await ensureLowerHex(db);
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`alter table audit_events
      drop constraint audit_events_hash_key,
      alter column prev_hash type bytea using decode(prev_hash, 'hex'),
      alter column hash type bytea using decode(hash, 'hex')`.execute(db);
    return;
  }
  await rebuild(db, 'blob', (column) => sql`unhex(${sql.ref(column)})`);
}

/** Back to lower-case hex text, `hash` unique again. */
export async function down(db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`alter table audit_events
      alter column prev_hash type text using encode(prev_hash, 'hex'),
      alter column hash type text using encode(hash, 'hex'),
      add constraint audit_events_hash_key unique (hash)`.execute(db);
    return;
  }
  await rebuild(db, 'text', (column) => sql`lower(hex(${sql.ref(column)}))`);
}

/** Refuses to convert a value that is not a hash as Custos writes it: it would not convert back. */
async function ensureLowerHex(db: Kysely<any>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  const notHex = (column: string) =>
    pg
      ? sql`${sql.ref(column)} !~ '^[0-9a-f]{64}$'`
      : sql`(length(${sql.ref(column)}) <> 64 or ${sql.ref(column)} glob '*[^0-9a-f]*')`;
  const { rows } = await sql<{ id: number | string }>`select id from audit_events
    where ${notHex('hash')} or ${notHex('prev_hash')} order by id limit 1`.execute(db);
  const found = rows[0];
  if (found)
    throw new Error(`audit_events: entry ${found.id} holds a hash that is not 64 lower-case hex digits`);
}

const COLUMNS = [
  'id',
  'at',
  'actor_type',
  'actor_id',
  'action',
  'app_key',
  'installation_id',
  'account_id',
  'details',
  'prev_hash',
  'hash',
] as const;

/**
 * SQLite: a new table with the hashes of `type` (unique when text, as created in
 * 20261124-0002-directory), the rows copied with `convert` applied to both hashes, then the
 * old table's indexes and AUTOINCREMENT counter put back. One savepoint: all or nothing.
 */
async function rebuild(
  db: Kysely<any>,
  type: 'blob' | 'text',
  convert: (column: 'hash' | 'prev_hash') => RawBuilder<unknown>,
): Promise<void> {
  await sql`SAVEPOINT audit_hashes`.execute(db);
  try {
    const indexes = await sql<{ sql: string }>`SELECT sql FROM sqlite_schema
      WHERE type = 'index' AND tbl_name = 'audit_events' AND sql IS NOT NULL ORDER BY name`.execute(db);
    const sequence = await sql<{ seq: number }>`SELECT seq FROM sqlite_sequence
      WHERE name = 'audit_events'`.execute(db);
    await db.schema
      .createTable('audit_events_next')
      .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('actor_type', 'text', (c) => c.notNull())
      .addColumn('actor_id', 'text', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('app_key', 'text')
      .addColumn('installation_id', 'text')
      .addColumn('account_id', 'text')
      .addColumn('details', 'text', (c) => c.notNull())
      .addColumn('prev_hash', type, (c) => c.notNull())
      .addColumn('hash', type, (c) => (type === 'text' ? c.notNull().unique() : c.notNull()))
      .execute();
    const kept = sql.join(COLUMNS.slice(0, -2).map((c) => sql.ref(c)));
    await sql`INSERT INTO audit_events_next (${sql.join(COLUMNS.map((c) => sql.ref(c)))})
      SELECT ${kept}, ${convert('prev_hash')}, ${convert('hash')} FROM audit_events ORDER BY id`.execute(db);
    await db.schema.dropTable('audit_events').execute();
    await db.schema.alterTable('audit_events_next').renameTo('audit_events').execute();
    for (const index of indexes.rows) await sql.raw(index.sql).execute(db);
    // The copy set the counter to the highest id copied; entries deleted at the end (or none
    // at all) had taken it higher, and ids are never reused.
    await sql`DELETE FROM sqlite_sequence WHERE name = 'audit_events'`.execute(db);
    const seq = sequence.rows[0]?.seq;
    if (seq !== undefined)
      await sql`INSERT INTO sqlite_sequence (name, seq) VALUES ('audit_events', ${seq})`.execute(db);
    await sql`RELEASE audit_hashes`.execute(db);
  } catch (error) {
    await sql`ROLLBACK TO audit_hashes`.execute(db);
    await sql`RELEASE audit_hashes`.execute(db);
    throw error;
  }
}
