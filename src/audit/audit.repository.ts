import type { Insertable, Kysely } from 'kysely';
import type { AuditEventTable, DB } from '../db/schema.js';

export function findLastHash(db: Kysely<DB>) {
  return db.selectFrom('audit_events').select('hash').orderBy('id', 'desc').limit(1).executeTakeFirst();
}

export async function insertAuditEvents(db: Kysely<DB>, rows: Insertable<AuditEventTable>[]) {
  for (let i = 0; i < rows.length; i += 200) {
    await db
      .insertInto('audit_events')
      .values(rows.slice(i, i + 200))
      .execute();
  }
}

export function listAuditEvents(db: Kysely<DB>, filter: { accountId?: string; action?: string } = {}) {
  let query = db.selectFrom('audit_events').selectAll().orderBy('id');
  if (filter.accountId) query = query.where('account_id', '=', filter.accountId);
  if (filter.action) query = query.where('action', '=', filter.action);
  return query.execute();
}
