import { type Kysely, PostgresAdapter } from 'kysely';

// Frozen: this file must never import application code. Portable column types only.
// Times are ISO-8601 UTC text.

export async function up(db: Kysely<any>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  const bigint = pg ? 'bigint' : 'integer';

  // Signed statements of where the audit log ended: the checkpoint itself is the JWS, the
  // other columns copy its payload for queries, and the witness columns are the delivery
  // state (null: not yet delivered to that witness, retried at the next run).
  await db.schema
    .createTable('audit_checkpoints')
    .addColumn('seq', pg ? 'bigserial' : 'integer', (c) =>
      pg ? c.primaryKey() : c.primaryKey().autoIncrement(),
    )
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('kid', 'text', (c) => c.notNull())
    .addColumn('last_id', bigint, (c) => c.notNull())
    .addColumn('last_hash', 'text', (c) => c.notNull())
    .addColumn('entry_count', bigint, (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('jws', 'text', (c) => c.notNull())
    .addColumn('url_delivered_at', 'text')
    .addColumn('file_written_at', 'text')
    .addColumn('witness_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('witness_error', 'text')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('audit_checkpoints').execute();
}
