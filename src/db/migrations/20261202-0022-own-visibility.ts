import type { Kysely } from 'kysely';

// Frozen: this file must never import application code. Portable column types only.

/** The profile fields with a visibility setting, as they were when this was written. */
const FIELDS = new Set([
  'email',
  'name',
  'avatar',
  'jobTitle',
  'department',
  'organization',
  'location',
  'timeZone',
  'locale',
]);
const PAGE = 1000;

/**
 * Which visibility settings of an account the person chose themselves (a JSON array of
 * field names): an import leaves those alone (docs/app-developers.md#loading-the-directory-custos-import).
 * Filled from the audit log, where every change a person made in the privacy centre is an
 * `account.visibility-changed` entry with the person as the actor and the changed fields as
 * its details. Reads only those entries, a page at a time.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('accounts')
    .addColumn('visibility_chosen', 'text', (c) => c.notNull().defaultTo('[]'))
    .execute();

  const chosen = new Map<string, Set<string>>();
  for (let after = 0; ; ) {
    const entries: { id: number; account_id: string; details: string }[] = await db
      .selectFrom('audit_events')
      .select(['id', 'account_id', 'details'])
      .where('action', '=', 'account.visibility-changed')
      .where('actor_type', '=', 'account')
      .whereRef('actor_id', '=', 'account_id')
      .where('id', '>', after)
      .orderBy('id')
      .limit(PAGE)
      .execute();
    for (const entry of entries) {
      const fields = chosen.get(entry.account_id) ?? new Set<string>();
      for (const key of Object.keys(JSON.parse(entry.details) as object))
        if (FIELDS.has(key)) fields.add(key);
      chosen.set(entry.account_id, fields);
    }
    if (entries.length < PAGE) break;
    after = Number(entries[entries.length - 1]?.id);
  }
  const order = [...FIELDS];
  for (const [accountId, fields] of chosen) {
    if (fields.size === 0) continue;
    await db
      .updateTable('accounts')
      .set({ visibility_chosen: JSON.stringify(order.filter((f) => fields.has(f))) })
      .where('account_id', '=', accountId)
      .execute();
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('accounts').dropColumn('visibility_chosen').execute();
}
