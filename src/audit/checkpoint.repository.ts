import type { Insertable, Kysely, Selectable } from 'kysely';
import type { AuditCheckpointTable, DB } from '../db/schema.js';

export type StoredCheckpoint = Selectable<AuditCheckpointTable>;

/** The two witnesses, by the column that records delivery to each. */
export type WitnessChannel = 'url_delivered_at' | 'file_written_at';

export function insertCheckpoint(db: Kysely<DB>, row: Insertable<AuditCheckpointTable>) {
  return db.insertInto('audit_checkpoints').values(row).returningAll().executeTakeFirstOrThrow();
}

export function findLatestCheckpoint(db: Kysely<DB>) {
  return db.selectFrom('audit_checkpoints').selectAll().orderBy('seq', 'desc').limit(1).executeTakeFirst();
}

export function findCheckpoint(db: Kysely<DB>, id: string) {
  return db.selectFrom('audit_checkpoints').selectAll().where('id', '=', id).executeTakeFirst();
}

/** A page of checkpoints, newest first, before the `beforeSeq` cursor. */
export function listCheckpoints(db: Kysely<DB>, q: { beforeSeq?: number; limit: number }) {
  let query = db.selectFrom('audit_checkpoints').selectAll().orderBy('seq', 'desc').limit(q.limit);
  if (q.beforeSeq !== undefined) query = query.where('seq', '<', q.beforeSeq);
  return query.execute();
}

/** Checkpoints not yet delivered to a witness, oldest first: a witness receives them in order. */
export function findUnwitnessed(db: Kysely<DB>, channel: WitnessChannel, afterSeq: number, limit: number) {
  return db
    .selectFrom('audit_checkpoints')
    .selectAll()
    .where(channel, 'is', null)
    .where('seq', '>', afterSeq)
    .orderBy('seq')
    .limit(limit)
    .execute();
}

export async function recordWitnessed(db: Kysely<DB>, seq: number, channel: WitnessChannel, at: string) {
  await db
    .updateTable('audit_checkpoints')
    .set({ [channel]: at })
    .where('seq', '=', seq)
    .execute();
}

export async function recordWitnessFailure(db: Kysely<DB>, seq: number, error: string) {
  await db
    .updateTable('audit_checkpoints')
    .set((eb) => ({ witness_attempts: eb('witness_attempts', '+', 1), witness_error: error }))
    .where('seq', '=', seq)
    .execute();
}
