import type { Kysely } from 'kysely';

// Frozen: this file must never import application code. Portable column types only.
// Times are ISO-8601 UTC text, as in the foundation migration.

export async function up(db: Kysely<any>): Promise<void> {
  // Signed consent receipts: one per consent event (request_seq + consent_key name it, as the
  // event's own key does without the email) or per preference change. The JWS is the receipt
  // itself, signed with a key kept outside the database; kid names that key. The person is
  // found by account id or by the SHA-256 of the normalised email, never by the address.
  await db.schema
    .createTable('consent_receipts')
    .addColumn('receipt_id', 'text', (c) => c.primaryKey())
    .addColumn('request_seq', 'bigint')
    .addColumn('consent_key', 'text')
    .addColumn('account_id', 'text')
    .addColumn('subject_sha256', 'text')
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('method', 'text', (c) => c.notNull())
    .addColumn('kid', 'text', (c) => c.notNull())
    .addColumn('jws', 'text', (c) => c.notNull())
    .addColumn('issued_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('consent_receipts_event_uq', ['request_seq', 'consent_key'])
    .execute();
  await db.schema
    .createIndex('consent_receipts_subject_idx')
    .on('consent_receipts')
    .column('subject_sha256')
    .execute();
  await db.schema
    .createIndex('consent_receipts_account_idx')
    .on('consent_receipts')
    .column('account_id')
    .execute();

  // A person's privacy preferences beside their email consent (e.g. "do not sell or share"
  // from a Global Privacy Control signal): the current value, how and when it was recorded,
  // and the receipt that proves it.
  await db.schema
    .createTable('account_preferences')
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.account_id').onDelete('cascade'))
    .addColumn('preference', 'text', (c) => c.notNull())
    .addColumn('value', 'integer', (c) => c.notNull())
    .addColumn('method', 'text', (c) => c.notNull())
    .addColumn('recorded_at', 'text', (c) => c.notNull())
    .addColumn('receipt_id', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('account_preferences_pk', ['account_id', 'preference'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('account_preferences').execute();
  await db.schema.dropTable('consent_receipts').execute();
}
