import type { Kysely } from 'kysely';

// Frozen: this file must never import application code. Portable column types only.

/**
 * An app's grants by its OAuth client: when the app is uninstalled from its last site, or its
 * client is removed, every grant to the client is revoked in that change's transaction, and
 * without this index finding them would read the whole table under the write lock.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex('oauth_records_client_idx')
    .on('oauth_records')
    .columns(['client_id', 'model'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('oauth_records_client_idx').execute();
}
