import type { Kysely } from 'kysely';

// Frozen: this file must never import application code. Portable column types only.

export async function up(db: Kysely<any>): Promise<void> {
  // How a consent was collected (GDPR art. 7(1): show that, and how, consent was given):
  // 'api' (a marketing system called the ConsentHub API, named by client_id) or
  // 'privacy-centre' (the person chose on their own signed-in page, named by account_id).
  for (const table of ['consent_requests', 'consent_events']) {
    await db.schema
      .alterTable(table)
      .addColumn('channel', 'text', (c) => c.notNull().defaultTo('api'))
      .execute();
    await db.schema.alterTable(table).addColumn('account_id', 'text').execute();
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['consent_events', 'consent_requests']) {
    await db.schema.alterTable(table).dropColumn('account_id').execute();
    await db.schema.alterTable(table).dropColumn('channel').execute();
  }
}
