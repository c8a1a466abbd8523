import type { Kysely } from 'kysely';

// Frozen: this file must never import application code. Portable column types only.

export async function up(db: Kysely<any>): Promise<void> {
  // The holdings register (docs/reporting-and-webhooks.md#compliance-views): what each app last
  // reported it stores.
  // Keyed (app, account) so a report is one batched upsert; the account index serves the
  // per-account view ("apps that hold this account's data"). No index on reported_at: every
  // report rewrites it, and the compliance view reads each app's rows through the key anyway.
  await db.schema
    .createTable('holdings')
    .addColumn('app_key', 'text', (c) => c.notNull())
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('retrieved_at', 'text', (c) => c.notNull())
    .addColumn('reported_at', 'text', (c) => c.notNull())
    .addColumn('first_reported_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('holdings_pk', ['app_key', 'account_id'])
    .execute();
  await db.schema.createIndex('holdings_account_idx').on('holdings').column('account_id').execute();

  // GDPR art. 19 evidence: each time an app was told that an account changed or closed,
  // by webhook (message_id links the delivery record) or in a report-accounts answer.
  await db.schema
    .createTable('account_notices')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('app_key', 'text', (c) => c.notNull())
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('event_type', 'text', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('message_id', 'text')
    .addColumn('told_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('account_notices_account_idx')
    .on('account_notices')
    .columns(['account_id', 'app_key'])
    .execute();

  // An app's own statement that it erased an account's data.
  await db.schema
    .createTable('erasure_confirmations')
    .addColumn('app_key', 'text', (c) => c.notNull())
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('confirmed_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('erasure_confirmations_pk', ['app_key', 'account_id'])
    .execute();
  await db.schema
    .createIndex('erasure_confirmations_account_idx')
    .on('erasure_confirmations')
    .column('account_id')
    .execute();

  // Last report per app survives erasures that empty its holdings; the previous webhook
  // secret keeps signing during a rotation's grace period.
  await db.schema.alterTable('apps').addColumn('last_reported_at', 'text').execute();
  await db.schema.alterTable('apps').addColumn('webhook_previous_secret_enc', 'text').execute();
  await db.schema.alterTable('apps').addColumn('webhook_previous_secret_until', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('apps').dropColumn('webhook_previous_secret_until').execute();
  await db.schema.alterTable('apps').dropColumn('webhook_previous_secret_enc').execute();
  await db.schema.alterTable('apps').dropColumn('last_reported_at').execute();
  await db.schema.dropTable('erasure_confirmations').execute();
  await db.schema.dropTable('account_notices').execute();
  await db.schema.dropTable('holdings').execute();
}
