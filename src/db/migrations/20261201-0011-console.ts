import type { Kysely } from 'kysely';

// Frozen: this file must never import application code. Portable column types only.

/**
 * The console filters the audit log by action and by time, newest first, over logs of
 * millions of entries: without these, a rare action or an old time window is a scan of the
 * whole log. (App and account filters have their indexes since the directory migration.)
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex('audit_events_action_idx')
    .on('audit_events')
    .columns(['action', 'id'])
    .execute();
  await db.schema.createIndex('audit_events_at_idx').on('audit_events').column('at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('audit_events_at_idx').execute();
  await db.schema.dropIndex('audit_events_action_idx').execute();
}
