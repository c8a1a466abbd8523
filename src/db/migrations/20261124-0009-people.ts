import type { Kysely } from 'kysely';

// Frozen: this file must never import application code. Portable column types only.
// Times are ISO-8601 UTC text, as in the foundation migration.

export async function up(db: Kysely<any>): Promise<void> {
  // Signed-in people. The cookie carries a random token; only its SHA-256 is stored, so a
  // copy of the database cannot be replayed as sessions. No address is stored: the device
  // label and the times are enough for a person to recognise their own sessions.
  await db.schema
    .createTable('sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.account_id').onDelete('cascade'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('last_seen_at', 'text', (c) => c.notNull())
    .addColumn('idle_timeout_s', 'integer', (c) => c.notNull())
    // min(last_seen_at + idle timeout, expires_at), or the revocation time: the one column
    // that says whether the session still works, and what the clean-up scans.
    .addColumn('idle_expires_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('device_label', 'text', (c) => c.notNull())
    .addColumn('revoked_at', 'text')
    .execute();
  await db.schema.createIndex('sessions_account_idx').on('sessions').column('account_id').execute();
  await db.schema.createIndex('sessions_idle_expires_idx').on('sessions').column('idle_expires_at').execute();

  // Console roles of people; `granted_by` is `<actor type>:<actor id>`, as in the audit log.
  await db.schema
    .createTable('operator_roles')
    .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.account_id').onDelete('cascade'))
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('granted_at', 'text', (c) => c.notNull())
    .addColumn('granted_by', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('operator_roles_pk', ['account_id', 'role'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('operator_roles').execute();
  await db.schema.dropTable('sessions').execute();
}
