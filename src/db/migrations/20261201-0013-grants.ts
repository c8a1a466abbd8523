import type { Kysely } from 'kysely';

// Frozen: this file must never import application code. Portable column types only.
// Times are ISO-8601 UTC text, as in the foundation migration.

export async function up(db: Kysely<any>): Promise<void> {
  // Redirect URIs an app registered for user grants (authorization code): a JSON array,
  // matched exactly. An OAuth client without any cannot ask people for a grant.
  await db.schema
    .alterTable('oauth_clients')
    .addColumn('redirect_uris', 'text', (c) => c.notNull().defaultTo('[]'))
    .execute();

  // What the OAuth 2.0 authorization server stores (grants, authorization codes, access and
  // refresh tokens, interactions, its sessions): one row per record, its JSON payload as the
  // protocol library writes it, plus the columns it is looked up by. Grants carry the
  // account and client, so "my connected apps" is one indexed read.
  await db.schema
    .createTable('oauth_records')
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('grant_id', 'text')
    .addColumn('uid', 'text')
    .addColumn('user_code', 'text')
    .addColumn('account_id', 'text')
    .addColumn('client_id', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text')
    .addColumn('consumed_at', 'text')
    .addColumn('last_used_at', 'text')
    .addPrimaryKeyConstraint('oauth_records_pk', ['model', 'id'])
    .execute();
  await db.schema.createIndex('oauth_records_grant_idx').on('oauth_records').column('grant_id').execute();
  await db.schema.createIndex('oauth_records_uid_idx').on('oauth_records').column('uid').execute();
  await db.schema
    .createIndex('oauth_records_account_idx')
    .on('oauth_records')
    .columns(['account_id', 'model'])
    .execute();
  await db.schema.createIndex('oauth_records_expires_idx').on('oauth_records').column('expires_at').execute();

  // The authorization server's signing keys (asymmetric; the public halves are its JWKS).
  // Private keys are encrypted under the master key. The newest live key signs; retired
  // ones are no longer published.
  await db.schema
    .createTable('oauth_signing_keys')
    .addColumn('kid', 'text', (c) => c.primaryKey())
    .addColumn('private_jwk_enc', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('retired_at', 'text')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('oauth_signing_keys').execute();
  await db.schema.dropTable('oauth_records').execute();
  await db.schema.alterTable('oauth_clients').dropColumn('redirect_uris').execute();
}
