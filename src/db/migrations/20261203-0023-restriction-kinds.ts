import { type Kysely, PostgresAdapter, sql } from 'kysely';

// Frozen: this file must never import application code. Portable column types only.

/**
 * An account may hold a restriction of processing (GDPR art. 18) and a deactivation pending
 * erasure at the same time, each added and removed on its own: the table is keyed by
 * (account_id, kind) instead of account_id alone. Before, an erasure filed while a
 * restriction stood wrote its kind over the restriction's row, and cancelling the erasure
 * then removed the restriction with it. Every existing row is kept as it is.
 *
 * PostgreSQL swaps the primary key in place; SQLite cannot change a primary key, so the table
 * is rebuilt (it has no index besides its key) inside one savepoint: all or nothing.
 */
export async function up(db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`alter table account_restrictions
      drop constraint account_restrictions_pkey,
      add constraint account_restrictions_pkey primary key (account_id, kind)`.execute(db);
    return;
  }
  await rebuild(db, ['account_id', 'kind']);
}

/**
 * Back to one row per account, which only works while no account holds both kinds: which of
 * the two to drop is not a migration's choice. With such an account present this refuses and
 * changes nothing.
 */
export async function down(db: Kysely<any>): Promise<void> {
  const both = await db
    .selectFrom('account_restrictions')
    .select('account_id')
    .groupBy('account_id')
    .having((eb) => eb.fn.countAll(), '>', 1)
    .limit(1)
    .executeTakeFirst();
  if (both)
    throw new Error(
      `20261203-0023-restriction-kinds cannot be migrated down: account ${both.account_id} is both ` +
        'restricted and pending erasure, and the earlier table holds one of them only. Lift one first; ' +
        'nothing was changed.',
    );
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`alter table account_restrictions
      drop constraint account_restrictions_pkey,
      add constraint account_restrictions_pkey primary key (account_id)`.execute(db);
    return;
  }
  await rebuild(db, ['account_id']);
}

const COLUMNS = ['account_id', 'kind', 'request_id', 'since'] as const;

/** SQLite: the table again with `key` as its primary key, every row copied. */
async function rebuild(db: Kysely<any>, key: string[]): Promise<void> {
  await sql`SAVEPOINT restriction_kinds`.execute(db);
  try {
    const { rows } = await sql<{ name: string }>`
      SELECT name FROM sqlite_schema
       WHERE type = 'index' AND tbl_name = 'account_restrictions' AND sql IS NOT NULL`.execute(db);
    if (rows.length > 0)
      throw new Error(`account_restrictions: unexpected indexes ${rows.map((r) => r.name).join(', ')}`);
    await db.schema
      .createTable('account_restrictions_next')
      .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.account_id'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('request_id', 'text', (c) => c.notNull())
      .addColumn('since', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('account_restrictions_pkey', key as never)
      .execute();
    const list = sql.join(COLUMNS.map((c) => sql.ref(c)));
    await sql`INSERT INTO account_restrictions_next (${list}) SELECT ${list} FROM account_restrictions`.execute(
      db,
    );
    await db.schema.dropTable('account_restrictions').execute();
    await db.schema.alterTable('account_restrictions_next').renameTo('account_restrictions').execute();
    await sql`RELEASE restriction_kinds`.execute(db);
  } catch (error) {
    await sql`ROLLBACK TO restriction_kinds`.execute(db);
    await sql`RELEASE restriction_kinds`.execute(db);
    throw error;
  }
}
