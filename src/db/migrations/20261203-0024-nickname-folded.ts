import { type Kysely, PostgresAdapter, sql } from 'kysely';

// Frozen: this file must never import application code. Portable column types only.

const PAGE = 1000;

/**
 * A copy of the directory's foldName as it was when this was written: upper case then lower
 * case (JavaScript's full, locale-independent case mappings), then Unicode normalization form
 * C. The application folds every name it writes and every query with its own copy.
 */
const fold = (name: string) => name.toUpperCase().toLowerCase().normalize('NFC');

/**
 * The user search compares public names without regard to case. It compared lower(nickname)
 * with the query lower-cased in JavaScript, but SQLite's lower() changes only A-Z (and
 * PostgreSQL's follows the database's collation), so a name such as "ÉMILE Zoë" was found on
 * one engine and not on the other. The folded name is now computed in JavaScript and stored:
 * a column filled here, and indexed for the search's equality
 * match in place of the expression index, which nothing else used.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await allOrNothing(db, () => foldNames(db));
}

/**
 * PostgreSQL runs each migration in a transaction; SQLite's migrations run statement by
 * statement, so there the whole change runs inside one savepoint: a process stopped half way
 * through a large directory's names leaves no column behind, and the next start runs it again.
 */
async function allOrNothing(db: Kysely<any>, change: () => Promise<void>): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) return change();
  await sql`SAVEPOINT nickname_folded`.execute(db);
  try {
    await change();
    await sql`RELEASE nickname_folded`.execute(db);
  } catch (error) {
    await sql`ROLLBACK TO nickname_folded`.execute(db);
    await sql`RELEASE nickname_folded`.execute(db);
    throw error;
  }
}

async function foldNames(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('accounts').addColumn('nickname_folded', 'text').execute();
  // One statement for the many names the engine's lower() already folds right (plain ASCII
  // on either engine), then a page at a time, only the names it folded otherwise.
  await sql`UPDATE accounts SET nickname_folded = lower(nickname) WHERE nickname IS NOT NULL`.execute(db);

  for (let after = ''; ; ) {
    const rows: { account_id: string; nickname: string; nickname_folded: string }[] = await db
      .selectFrom('accounts')
      .select(['account_id', 'nickname', 'nickname_folded'])
      .where('nickname', 'is not', null)
      .where('account_id', '>', after)
      .orderBy('account_id')
      .limit(PAGE)
      .execute();
    for (const row of rows) {
      const folded = fold(row.nickname);
      if (folded === row.nickname_folded) continue;
      await db
        .updateTable('accounts')
        .set({ nickname_folded: folded })
        .where('account_id', '=', row.account_id)
        .execute();
    }
    const last = rows.at(-1);
    if (rows.length < PAGE || last === undefined) break;
    after = last.account_id;
  }

  await db.schema.dropIndex('accounts_nickname_folded_idx').execute();
  await db.schema
    .createIndex('accounts_nickname_folded_column_idx')
    .on('accounts')
    .column('nickname_folded')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await allOrNothing(db, async () => {
    await db.schema.dropIndex('accounts_nickname_folded_column_idx').execute();
    await db.schema.alterTable('accounts').dropColumn('nickname_folded').execute();
    await db.schema
      .createIndex('accounts_nickname_folded_idx')
      .on('accounts')
      .expression(sql`lower(nickname)`)
      .execute();
  });
}
