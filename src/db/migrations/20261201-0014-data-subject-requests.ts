import { type Kysely, PostgresAdapter } from 'kysely';

// Frozen: this file must never import application code. Portable column types only.
// Times are ISO-8601 UTC text; calendar dates (due dates) are `YYYY-MM-DD` text.

export async function up(db: Kysely<any>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;

  // A data-subject request and where it stands in the workflow (src/dsr/dsr.rules.ts). Every
  // non-final state has an owner and a time limit (`state_limit_at`); the deadline columns are
  // derived from the received, verified and extension columns by the deadline engine and kept
  // here so that queues sort and filter on them.
  await db.schema
    .createTable('dsr_requests')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.account_id'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('regime', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('filed_via', 'text', (c) => c.notNull())
    .addColumn('filed_by', 'text', (c) => c.notNull())
    .addColumn('needs_verification', 'integer', (c) => c.notNull())
    // What the person asks for in their own words (rectification); shown to operators only.
    .addColumn('details', 'text')
    .addColumn('received_at', 'text', (c) => c.notNull())
    .addColumn('verified_at', 'text')
    .addColumn('due_on', 'text')
    .addColumn('original_due_on', 'text')
    .addColumn('acknowledge_by', 'text')
    .addColumn('extension', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('extension_reason', 'text')
    .addColumn('extended_at', 'text')
    .addColumn('state_since', 'text', (c) => c.notNull())
    .addColumn('state_limit_at', 'text')
    .addColumn('apps_deadline_at', 'text')
    .addColumn('grace_until', 'text')
    .addColumn('outcome_reason', 'text')
    .addColumn('reminded_at', 'text')
    .addColumn('attention_since', 'text')
    .addColumn('attention_reason', 'text')
    .addColumn('last_error', 'text')
    .addColumn('closed_at', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('dsr_requests_account_idx')
    .on('dsr_requests')
    .columns(['account_id', 'received_at'])
    .execute();
  await db.schema
    .createIndex('dsr_requests_state_idx')
    .on('dsr_requests')
    .columns(['state', 'state_limit_at'])
    .execute();

  // The request's timeline: every transition and action, with who took it.
  await db.schema
    .createTable('dsr_events')
    .addColumn('id', pg ? 'serial' : 'integer', (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('request_id', 'text', (c) => c.notNull().references('dsr_requests.id'))
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('from_state', 'text')
    .addColumn('to_state', 'text')
    .addColumn('note', 'text')
    .execute();
  await db.schema
    .createIndex('dsr_events_request_idx')
    .on('dsr_events')
    .columns(['request_id', 'id'])
    .execute();

  // Per app concerned: when it was told (its outbox message), whether it answered (its part of
  // an access export) and whether it confirmed.
  await db.schema
    .createTable('dsr_app_parts')
    .addColumn('request_id', 'text', (c) => c.notNull().references('dsr_requests.id'))
    .addColumn('app_key', 'text', (c) => c.notNull())
    .addColumn('event_type', 'text', (c) => c.notNull())
    .addColumn('message_id', 'text')
    .addColumn('told_at', 'text', (c) => c.notNull())
    .addColumn('answered_at', 'text')
    .addColumn('part', 'text')
    .addColumn('confirmed_at', 'text')
    .addPrimaryKeyConstraint('dsr_app_parts_pk', ['request_id', 'app_key'])
    .execute();

  // An access request's export, until its retention ends; the content is cleared then.
  await db.schema
    .createTable('dsr_exports')
    .addColumn('request_id', 'text', (c) => c.primaryKey().references('dsr_requests.id'))
    .addColumn('content', 'text')
    .addColumn('bytes', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('delete_after', 'text', (c) => c.notNull())
    .addColumn('deleted_at', 'text')
    .addColumn('downloaded_at', 'text')
    .execute();
  await db.schema.createIndex('dsr_exports_delete_idx').on('dsr_exports').column('delete_after').execute();

  // Accounts whose processing is restricted (GDPR art. 18) or deactivated pending erasure:
  // the Email API refuses them. Lifting deletes the row; the timeline and the audit log keep it.
  await db.schema
    .createTable('account_restrictions')
    .addColumn('account_id', 'text', (c) => c.primaryKey().references('accounts.account_id'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('since', 'text', (c) => c.notNull())
    .execute();

  // Objections to direct marketing (GDPR art. 21(3)), by normalised email as ConsentHub keys
  // its choices: consent-config/get answers "no" while a row exists, whatever is granted later.
  await db.schema
    .createTable('marketing_suppressions')
    .addColumn('email', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('since', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('marketing_suppressions').execute();
  await db.schema.dropTable('account_restrictions').execute();
  await db.schema.dropTable('dsr_exports').execute();
  await db.schema.dropTable('dsr_app_parts').execute();
  await db.schema.dropTable('dsr_events').execute();
  await db.schema.dropTable('dsr_requests').execute();
}
