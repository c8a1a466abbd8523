import { type Insertable, type Kysely, type Selectable, sql } from 'kysely';
import { compiledQuery } from '../db/compiled.js';
import type { Database } from '../db/dialect.js';
import type { DB, WebhookMessageTable } from '../db/schema.js';

export type WebhookMessage = Selectable<WebhookMessageTable>;

export async function insertMessages(db: Kysely<DB>, rows: Insertable<WebhookMessageTable>[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) {
    await db
      .insertInto('webhook_messages')
      .values(rows.slice(i, i + 500))
      .execute();
  }
}

/** Pending, its time come, and not leased by a worker (or its lease ran out). */
function dueMessages(db: Kysely<DB>, now: string) {
  return db
    .selectFrom('webhook_messages as m')
    .where('m.status', '=', sql.lit('pending'))
    .where('m.next_attempt_at', '<=', now)
    .where((eb) => eb.or([eb('m.lease_until', 'is', null), eb('m.lease_until', '<', now)]));
}

// Placeholders for the two instants; calls pass (now, now).
const selectAnyDue = compiledQuery<DB, { seq: number }, [now: string, now: string]>((db) =>
  dueMessages(db, '').select('m.seq').limit(sql<number>`1`),
);

/**
 * Whether a message may be due: pending, its time come, not leased. A read on the due index,
 * so that an idle worker's polls do not open a write transaction; what it finds is claimed
 * by leaseDueMessages, which also honours the ordering keys.
 */
export async function hasDueMessage(db: Kysely<DB>, now: string): Promise<boolean> {
  return (await selectAnyDue(db, now, now)).rows.length > 0;
}

/**
 * Takes due messages for delivery: pending, due, not leased by another worker, and not
 * behind an earlier pending message with the same app and ordering key. Sets a lease and
 * counts the attempt, in one transaction, so two workers never deliver the same message
 * at once and a worker that dies mid-delivery leaves a lease that simply runs out.
 */
export async function leaseDueMessages(
  database: Database,
  now: string,
  leaseUntil: string,
  limit: number,
): Promise<WebhookMessage[]> {
  return database.writeTransaction(async (trx) => {
    const due = dueMessages(trx, now)
      .select('m.seq')
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('webhook_messages as e')
              .select('e.seq')
              .whereRef('e.app_key', '=', 'm.app_key')
              .whereRef('e.ordering_key', '=', 'm.ordering_key')
              .where('e.status', '=', 'pending')
              .whereRef('e.seq', '<', 'm.seq'),
          ),
        ),
      )
      .orderBy('m.seq')
      .limit(limit);
    const seqs = (await database.skipLocked(due as never).execute()) as { seq: number }[];
    if (seqs.length === 0) return [];
    return trx
      .updateTable('webhook_messages')
      .set((eb) => ({ lease_until: leaseUntil, attempts: eb('attempts', '+', 1), last_attempt_at: now }))
      .where(
        'seq',
        'in',
        seqs.map((s) => s.seq),
      )
      .returningAll()
      .execute();
  });
}

export async function recordDelivered(db: Kysely<DB>, id: string, status: number, at: string): Promise<void> {
  await db
    .updateTable('webhook_messages')
    .set({ status: 'delivered', delivered_at: at, last_status: status, last_error: null, lease_until: null })
    .where('id', '=', id)
    .execute();
}

export async function recordFailure(
  db: Kysely<DB>,
  id: string,
  outcome: { status: number | null; error: string; nextAttemptAt: string | null },
): Promise<void> {
  await db
    .updateTable('webhook_messages')
    .set({
      status: outcome.nextAttemptAt === null ? 'dead' : 'pending',
      next_attempt_at: outcome.nextAttemptAt ?? undefined,
      last_status: outcome.status,
      last_error: outcome.error.slice(0, 500),
      lease_until: null,
    })
    .where('id', '=', id)
    .execute();
}

export function findMessage(db: Kysely<DB>, id: string) {
  return db
    .selectFrom('webhook_messages')
    .select(['seq', 'id', 'app_key', 'status'])
    .where('id', '=', id)
    .executeTakeFirst();
}

/** The oldest `limit` dead messages of an app after `afterSeq`. */
export async function findDeadSeqs(
  db: Kysely<DB>,
  appKey: string,
  afterSeq: number,
  limit: number,
): Promise<number[]> {
  const rows = await db
    .selectFrom('webhook_messages')
    .select('seq')
    .where('app_key', '=', appKey)
    .where('status', '=', 'dead')
    .where('seq', '>', afterSeq)
    .orderBy('seq')
    .limit(limit)
    .execute();
  return rows.map((r) => r.seq);
}

/** Dead messages back in the queue, due now; returns how many were still dead. */
export async function requeueDead(db: Kysely<DB>, seqs: number[], now: string): Promise<number> {
  if (seqs.length === 0) return 0;
  const result = await db
    .updateTable('webhook_messages')
    .set({ status: 'pending', next_attempt_at: now, lease_until: null })
    .where('seq', 'in', seqs)
    .where('status', '=', 'dead')
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

export async function countMessages(
  db: Kysely<DB>,
  filter: { appKey: string; status: WebhookMessage['status'] },
) {
  const row = await db
    .selectFrom('webhook_messages')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('app_key', '=', filter.appKey)
    .where('status', '=', filter.status)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** Newest first; `beforeSeq` continues a page. */
export function listMessages(
  db: Kysely<DB>,
  filter: { appKey?: string; status?: WebhookMessage['status']; limit: number; beforeSeq?: number },
) {
  let query = db.selectFrom('webhook_messages').selectAll().orderBy('seq', 'desc').limit(filter.limit);
  if (filter.appKey) query = query.where('app_key', '=', filter.appKey);
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.beforeSeq !== undefined) query = query.where('seq', '<', filter.beforeSeq);
  return query.execute();
}

/** Up to `limit` messages in a final state whose last event came before `before`, oldest first. */
export function findPurgeable(db: Kysely<DB>, status: 'delivered' | 'dead', before: string, limit: number) {
  return db
    .selectFrom('webhook_messages')
    .select(['seq', 'id'])
    .where('status', '=', status)
    .where(status === 'delivered' ? 'delivered_at' : 'last_attempt_at', '<', before)
    .orderBy('seq')
    .limit(limit)
    .execute();
}

/** Deletes these messages if still in `status` (a dead letter requeued meanwhile stays). */
export async function deleteMessages(db: Kysely<DB>, status: 'delivered' | 'dead', seqs: number[]) {
  if (seqs.length === 0) return;
  await db.deleteFrom('webhook_messages').where('seq', 'in', seqs).where('status', '=', status).execute();
}
