import { type Kysely, PostgresAdapter, sql } from 'kysely';

// Frozen: this file must never import application code. Portable column types only.

/**
 * The holdings register is rewritten row by row on every report (docs/wire-contracts.md#
 * reporting-request): each report of an account updates its retrieval and report times. On
 * PostgreSQL a full page makes every such update a new row version in another page, with new
 * entries in both indexes; leaving 30 % of each page free lets the update stay in its page
 * (a heap-only tuple) and the dead version be pruned without VACUUM. Existing pages keep
 * their fill until rewritten. SQLite updates in place and has no such setting.
 */
export async function up(db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter)
    await sql`alter table holdings set (fillfactor = 70)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter)
    await sql`alter table holdings reset (fillfactor)`.execute(db);
}
