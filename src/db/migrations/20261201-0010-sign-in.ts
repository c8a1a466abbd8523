import type { Kysely } from 'kysely';

// Frozen: this file must never import application code. Portable column types only.
// Times are ISO-8601 UTC text, as in the foundation migration.

export async function up(db: Kysely<any>): Promise<void> {
  // Emailed one-time codes. A row is written for every request, whether or not the email
  // belongs to an account (account_id null then, and no mail sent), so that the answers and
  // the attempt count behave the same either way. No email is stored; the code only as an
  // HMAC under a key derived from the master key, bound to the row's id.
  await db.schema
    .createTable('sign_in_codes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.references('accounts.account_id').onDelete('cascade'))
    .addColumn('code_hash', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('used_at', 'text')
    .execute();
  await db.schema.createIndex('sign_in_codes_expires_idx').on('sign_in_codes').column('expires_at').execute();

  // Operator-issued one-time sign-in links; only the token's SHA-256 is stored.
  await db.schema
    .createTable('login_links')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.account_id').onDelete('cascade'))
    .addColumn('next_path', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('used_at', 'text')
    .execute();
  await db.schema.createIndex('login_links_expires_idx').on('login_links').column('expires_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('login_links').execute();
  await db.schema.dropTable('sign_in_codes').execute();
}
