import { type Kysely, PostgresAdapter } from 'kysely';

// Frozen: this file must never import application code. Portable column types only.

export async function up(db: Kysely<any>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;

  // The durable outbox: a message is written in the same transaction as the change it
  // announces, and delivered (at least once, in order per ordering key) by the workers.
  await db.schema
    .createTable('webhook_messages')
    .addColumn('seq', pg ? 'bigserial' : 'integer', (c) =>
      pg ? c.primaryKey() : c.primaryKey().autoIncrement(),
    )
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('app_key', 'text', (c) => c.notNull())
    .addColumn('event_type', 'text', (c) => c.notNull())
    .addColumn('ordering_key', 'text')
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'text', (c) => c.notNull())
    .addColumn('lease_until', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('last_attempt_at', 'text')
    .addColumn('last_status', 'integer')
    .addColumn('last_error', 'text')
    .addColumn('delivered_at', 'text')
    .execute();
  await db.schema
    .createIndex('webhook_messages_due_idx')
    .on('webhook_messages')
    .columns(['status', 'next_attempt_at'])
    .execute();
  await db.schema
    .createIndex('webhook_messages_order_idx')
    .on('webhook_messages')
    .columns(['app_key', 'ordering_key', 'seq'])
    .execute();

  // An endpoint that answered 410 Gone is disabled until the operator enables it again.
  await db.schema.alterTable('apps').addColumn('webhook_disabled_at', 'text').execute();
  await db.schema.alterTable('apps').addColumn('webhook_disabled_reason', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('apps').dropColumn('webhook_disabled_reason').execute();
  await db.schema.alterTable('apps').dropColumn('webhook_disabled_at').execute();
  await db.schema.dropTable('webhook_messages').execute();
}
