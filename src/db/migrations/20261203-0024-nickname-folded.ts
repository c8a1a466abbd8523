import { type Kysely, sql } from 'kysely';

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
 * a column filled here, a page of accounts at a time, and indexed for the search's equality
 * match in place of the expression index, which nothing else used.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('accounts').addColumn('nickname_folded', 'text').execute();

  for (let after = ''; ; ) {
    const rows: { account_id: string; nickname: string }[] = await db
      .selectFrom('accounts')
      .select(['account_id', 'nickname'])
      .where('nickname', 'is not', null)
      .where('account_id', '>', after)
      .orderBy('account_id')
      .limit(PAGE)
      .execute();
    for (const row of rows)
      await db
        .updateTable('accounts')
        .set({ nickname_folded: fold(row.nickname) })
        .where('account_id', '=', row.account_id)
        .execute();
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
  await db.schema.dropIndex('accounts_nickname_folded_column_idx').execute();
  await db.schema.alterTable('accounts').dropColumn('nickname_folded').execute();
  await db.schema
    .createIndex('accounts_nickname_folded_idx')
    .on('accounts')
    .expression(sql`lower(nickname)`)
    .execute();
}
