import type { Kysely } from 'kysely';
import type { ConsentNoticeTable, DB } from '../db/schema.js';

export function listNotices(db: Kysely<DB>) {
  return db.selectFrom('consent_notices').selectAll().orderBy('key').orderBy('effective_at').execute();
}

export async function insertNotice(db: Kysely<DB>, row: ConsentNoticeTable) {
  await db.insertInto('consent_notices').values(row).execute();
}
