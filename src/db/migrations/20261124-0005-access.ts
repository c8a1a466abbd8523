import { type Kysely, PostgresAdapter } from 'kysely';

// Frozen: this file must never import application code. Portable column types only.
// Times are ISO-8601 UTC text, booleans 0/1 integers, JSON as text.

/**
 * The published use cases at the time of writing (docs/wire-contracts.md#use-cases); operators
 * extend the table, never this list.
 */
const USE_CASES: [id: string, category: string, functionality: string, decision: string][] = [
  ['error-reports', 'transactional email', 'Send error reports', 'auto'],
  ['security-alerts', 'transactional email', 'Send security alerts', 'auto'],
  ['user-subscribed-alerts', 'transactional email', 'Let users subscribe to alerts or news feeds', 'auto'],
  ['collaboration-invites', 'transactional email', 'Let users invite other users to collaborate', 'auto'],
  ['mail-service-linking', 'account linking', 'Connect a mail service for inbound/outbound mail', 'review'],
  ['user-sync', 'account linking', 'Sync users with another system', 'review'],
  ['other', 'other', 'A use case not listed; described in the request', 'review'],
  ['company-event-invites', 'transactional email', 'Invite users to company events', 'never'],
  ['marketing', 'transactional email', 'Send newsletters, campaigns or other marketing email', 'never'],
  ['onboarding', 'transactional email', 'Send material to facilitate end-user onboarding', 'never'],
  ['renewal-reminders', 'transactional email', 'Send subscription or renewal reminders', 'never'],
];

export async function up(db: Kysely<any>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  const now = new Date().toISOString();

  await db.schema
    .createTable('access_use_cases')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('category', 'text', (c) => c.notNull())
    .addColumn('functionality', 'text', (c) => c.notNull())
    // 'auto' | 'review' | 'never'
    .addColumn('decision', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db
    .insertInto('access_use_cases')
    .values(
      USE_CASES.map(([id, category, functionality, decision]) => ({
        id,
        category,
        functionality,
        decision,
        created_at: now,
      })),
    )
    .execute();

  await db.schema
    .createTable('access_requests')
    .addColumn('seq', pg ? 'bigserial' : 'integer', (c) =>
      pg ? c.primaryKey() : c.primaryKey().autoIncrement(),
    )
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('app_key', 'text', (c) => c.notNull().references('apps.key').onDelete('cascade'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('company_name', 'text', (c) => c.notNull())
    .addColumn('app_name', 'text', (c) => c.notNull())
    .addColumn('listing_url', 'text')
    .addColumn('privacy_policy_url', 'text', (c) => c.notNull())
    .addColumn('terms_url', 'text', (c) => c.notNull())
    .addColumn('stores_personal_data', 'integer', (c) => c.notNull())
    .addColumn('use_cases', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('privacy_policy_excerpt', 'text', (c) => c.notNull())
    // 'met' | 'not-met' | 'pending' | 'not-required'
    .addColumn('reporting_check', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('submitted_by', 'text', (c) => c.notNull())
    .addColumn('submitted_at', 'text', (c) => c.notNull())
    .addColumn('decided_by', 'text')
    .addColumn('decided_at', 'text')
    .addColumn('revoked_by', 'text')
    .addColumn('revoked_at', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('access_requests_app_idx')
    .on('access_requests')
    .columns(['app_key', 'status'])
    .execute();
  await db.schema.createIndex('access_requests_status_idx').on('access_requests').column('status').execute();

  // One truth: apps on the interim allow list become approved requests, then the flag goes.
  const approved = await db
    .selectFrom('apps')
    .select(['key', 'name', 'vendor', 'privacy_policy_url', 'terms_url', 'stores_personal_data'])
    .where('email_api_approved', '=', 1)
    .execute();
  for (const app of approved) {
    await db
      .insertInto('access_requests')
      .values({
        id: `ear_migrated_${String(app.key).replace(/[^A-Za-z0-9]/g, '_')}`,
        app_key: app.key,
        status: 'approved',
        company_name: app.vendor,
        app_name: app.name,
        listing_url: null,
        privacy_policy_url: app.privacy_policy_url ?? '',
        terms_url: app.terms_url ?? '',
        stores_personal_data: app.stores_personal_data,
        use_cases: '["other"]',
        description: 'Approved on the interim Email API allow list before the access programme existed.',
        privacy_policy_excerpt: '',
        reporting_check: 'pending',
        reason: 'migrated from the interim allow list',
        submitted_by: 'operator:migration',
        submitted_at: now,
        decided_by: 'operator:migration',
        decided_at: now,
        updated_at: now,
      })
      .execute();
  }
  await db.schema.alterTable('apps').dropColumn('email_api_approved').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('apps')
    .addColumn('email_api_approved', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db
    .updateTable('apps')
    .set({ email_api_approved: 1 })
    .where('key', 'in', (eb: any) =>
      eb.selectFrom('access_requests').select('app_key').where('status', 'in', ['approved', 'auto-approved']),
    )
    .execute();
  await db.schema.dropTable('access_requests').execute();
  await db.schema.dropTable('access_use_cases').execute();
}
