import { type Kysely, sql } from 'kysely';

// Frozen: this file must never import application code. Portable column types only.
// Times are ISO-8601 UTC text, booleans 0/1 integers, as in the foundation migration.

export async function up(db: Kysely<any>): Promise<void> {
  // What an app asked Custos to tell people: the content is the app's, kept so that a retry
  // of the delivery job renders the same mail. Never an address: recipients are account ids.
  await db.schema
    .createTable('notifications')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('app_key', 'text', (c) => c.notNull())
    .addColumn('idempotency_key', 'text', (c) => c.notNull())
    // SHA-256 of the request's content: a repeated key with other content is refused.
    .addColumn('request_hash', 'text', (c) => c.notNull())
    .addColumn('category', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('text_body', 'text', (c) => c.notNull())
    .addColumn('html_body', 'text')
    // JSON array: the sites the app's credentials spoke for when it asked.
    .addColumn('site_ids', 'text', (c) => c.notNull())
    .addColumn('recipient_count', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('notifications_idempotency_uq', ['app_key', 'idempotency_key'])
    .execute();
  await db.schema
    .createIndex('notifications_app_created_idx')
    .on('notifications')
    .columns(['app_key', 'created_at'])
    .execute();

  // One row per (notification, account): 'pending' until the delivery job decides, then
  // 'sent' | 'suppressed' (the person's preference, or nothing to send to) | 'unknown' (not a
  // member of the app's sites) | 'failed' (the mail server refused it after every retry).
  await db.schema
    .createTable('notification_recipients')
    .addColumn('notification_id', 'text', (c) =>
      c.notNull().references('notifications.id').onDelete('cascade'),
    )
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('notification_recipients_pk', ['notification_id', 'account_id'])
    .execute();
  await db.schema
    .createIndex('notification_recipients_account_idx')
    .on('notification_recipients')
    .column('account_id')
    .execute();

  // A person's choices. category '*' is the app as a whole; no row means on.
  await db.schema
    .createTable('notification_preferences')
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.account_id').onDelete('cascade'))
    .addColumn('app_key', 'text', (c) => c.notNull())
    .addColumn('category', 'text', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('notification_preferences_pk', ['account_id', 'app_key', 'category'])
    .execute();

  // Each app's recipients per UTC day: the daily quota is one atomic upsert on this row.
  await db.schema
    .createTable('notification_quota')
    .addColumn('app_key', 'text', (c) => c.notNull())
    .addColumn('day', 'text', (c) => c.notNull())
    .addColumn('used', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('notification_quota_pk', ['app_key', 'day'])
    .execute();

  // The user search matches a public name exactly without regard to case (emails are stored
  // normalized and have their unique index already).
  await db.schema
    .createIndex('accounts_nickname_folded_idx')
    .on('accounts')
    .expression(sql`lower(nickname)`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('accounts_nickname_folded_idx').execute();
  await db.schema.dropTable('notification_quota').execute();
  await db.schema.dropTable('notification_preferences').execute();
  await db.schema.dropTable('notification_recipients').execute();
  await db.schema.dropTable('notifications').execute();
}
