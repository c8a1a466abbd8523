import { createHash } from 'node:crypto';
import { type Kysely, PostgresAdapter, sql } from 'kysely';

// Frozen: this file must never import application code. Portable column types only.

const GMOI_TEXT =
  'Yes, I would like to receive promotional emails including product news, events, and more from Atlassian and its affiliates.';

export async function up(db: Kysely<any>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  const serial = pg ? 'bigserial' : 'integer';

  await db.schema
    .createTable('api_clients')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('email', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('api_client_scopes')
    .addColumn('client_id', 'text', (c) => c.notNull().references('api_clients.id').onDelete('cascade'))
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('granted_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('api_client_scopes_pk', ['client_id', 'scope'])
    .execute();

  await db.schema
    .createTable('api_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('client_id', 'text', (c) => c.notNull().references('api_clients.id').onDelete('cascade'))
    .addColumn('lookup_key', 'text', (c) => c.notNull().unique())
    .addColumn('token_hash', 'text', (c) => c.notNull())
    .addColumn('label', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('last_used_at', 'text')
    .addColumn('revoked_at', 'text')
    .execute();
  await db.schema.createIndex('api_tokens_client_idx').on('api_tokens').column('client_id').execute();

  await db.schema
    .createTable('consent_notices')
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('effective_at', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('consent_notices_pk', ['key', 'version'])
    .addUniqueConstraint('consent_notices_text_uq', ['key', 'sha256'])
    .execute();
  const now = new Date().toISOString();
  await db
    .insertInto('consent_notices')
    .values({
      key: 'generalMarketingOptIn',
      version: '2020-04-02',
      text: GMOI_TEXT,
      sha256: createHash('sha256').update(GMOI_TEXT, 'utf8').digest('hex'),
      effective_at: '2020-04-02T00:00:00.000Z',
      created_at: now,
    })
    .execute();

  await db.schema
    .createTable('consent_requests')
    .addColumn('seq', serial, (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('locale', 'text', (c) => c.notNull())
    .addColumn('form_url', 'text')
    .addColumn('provider_id', 'text')
    .addColumn('consents', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('remote_addr', 'text', (c) => c.notNull())
    .addColumn('user_agent', 'text')
    .addColumn('received_at', 'text', (c) => c.notNull())
    .addColumn('applied_at', 'text')
    .execute();
  // The worker's queue: only unapplied rows are indexed, so the index stays tiny.
  await db.schema
    .createIndex('consent_requests_pending_idx')
    .on('consent_requests')
    .column('seq')
    .where(sql.ref('applied_at'), 'is', null)
    .execute();

  // Append-only proof. One event per (request, key): applying a request twice can never
  // record it twice. The key leads with the email, so the current choice (the latest
  // received event per email and key) is one index seek and the table can be distributed
  // by email.
  await db.schema
    .createTable('consent_events')
    .addColumn('request_seq', 'bigint', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('granted', 'integer', (c) => c.notNull())
    .addColumn('displayed_text', 'text')
    .addColumn('text_sha256', 'text')
    .addColumn('notice_version', 'text')
    .addColumn('form_url', 'text')
    .addColumn('locale', 'text', (c) => c.notNull())
    .addColumn('provider_id', 'text')
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('remote_addr', 'text', (c) => c.notNull())
    .addColumn('user_agent', 'text')
    .addColumn('received_at', 'text', (c) => c.notNull())
    .addColumn('applied_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('consent_events_pk', ['email', 'key', 'request_seq'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'consent_events',
    'consent_requests',
    'consent_notices',
    'api_tokens',
    'api_client_scopes',
    'api_clients',
  ]) {
    await db.schema.dropTable(table).execute();
  }
}
