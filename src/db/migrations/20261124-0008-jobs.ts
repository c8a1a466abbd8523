import { type Kysely, PostgresAdapter } from 'kysely';

// Frozen: this file must never import application code. Portable column types only.
// Times are ISO-8601 UTC text, JSON as text.

export async function up(db: Kysely<any>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;

  // Durable background jobs: one row per run to make. (name, key) is unique, so a scheduled
  // job's due time (its key) is inserted once however many workers see it come due, and a
  // caller enqueueing with its own key enqueues once.
  await db.schema
    .createTable('jobs')
    .addColumn('id', pg ? 'bigserial' : 'integer', (c) =>
      pg ? c.primaryKey() : c.primaryKey().autoIncrement(),
    )
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    // 'pending' | 'running' | 'succeeded' | 'failed'
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('run_at', 'text', (c) => c.notNull())
    .addColumn('lease_until', 'text')
    .addColumn('lease_holder', 'text')
    .addColumn('last_error', 'text')
    .addColumn('result', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('started_at', 'text')
    .addColumn('finished_at', 'text')
    .addUniqueConstraint('jobs_name_key_uq', ['name', 'key'])
    .execute();
  await db.schema.createIndex('jobs_due_idx').on('jobs').columns(['status', 'run_at']).execute();

  // Delivered outbox messages are purged after a retention; the art. 19 record keeps their
  // delivery outcome on the notice that pointed at them.
  await db.schema.alterTable('account_notices').addColumn('delivery_status', 'text').execute();
  await db.schema.alterTable('account_notices').addColumn('delivered_at', 'text').execute();
  await db.schema
    .createIndex('account_notices_message_idx')
    .on('account_notices')
    .column('message_id')
    .execute();
  await db.schema
    .createIndex('webhook_messages_delivered_idx')
    .on('webhook_messages')
    .columns(['status', 'delivered_at'])
    .execute();

  // One reporting reminder per app and reporting cycle, whichever worker sends it.
  await db.schema
    .createTable('reporting_reminders')
    .addColumn('app_key', 'text', (c) => c.notNull())
    .addColumn('cycle_start', 'text', (c) => c.notNull())
    .addColumn('overdue_accounts', 'integer', (c) => c.notNull())
    .addColumn('message_id', 'text', (c) => c.notNull())
    .addColumn('sent_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('reporting_reminders_pk', ['app_key', 'cycle_start'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('reporting_reminders').execute();
  await db.schema.dropIndex('webhook_messages_delivered_idx').execute();
  await db.schema.dropIndex('account_notices_message_idx').execute();
  await db.schema.alterTable('account_notices').dropColumn('delivered_at').execute();
  await db.schema.alterTable('account_notices').dropColumn('delivery_status').execute();
  await db.schema.dropTable('jobs').execute();
}
