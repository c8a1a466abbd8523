import { type Kysely, type Selectable, sql } from 'kysely';
import { compiledQueryPerShape } from '../db/compiled.js';
import type { Database } from '../db/dialect.js';
import type { DB, JobStatus, JobTable } from '../db/schema.js';

export type Job = Selectable<JobTable>;

export interface NewJob {
  name: string;
  key: string;
  payload: string;
  runAt: string;
}

/** Inserts the job unless one with the same name and key exists; either way, its id. */
export async function insertJob(
  db: Kysely<DB>,
  job: NewJob,
  now: string,
): Promise<{ id: number; created: boolean }> {
  const inserted = await db
    .insertInto('jobs')
    .values({
      name: job.name,
      key: job.key,
      payload: job.payload,
      status: 'pending',
      attempts: 0,
      run_at: job.runAt,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) => oc.columns(['name', 'key']).doNothing())
    .returning('id')
    .executeTakeFirst();
  if (inserted) return { id: inserted.id, created: true };
  const existing = await db
    .selectFrom('jobs')
    .select('id')
    .where('name', '=', job.name)
    .where('key', '=', job.key)
    .executeTakeFirstOrThrow();
  return { id: existing.id, created: false };
}

/** Due: pending and its time has come, or running under a lease that ran out (its worker died). */
function dueJobs(db: Kysely<DB>, names: string[], now: string) {
  return db
    .selectFrom('jobs')
    .where('name', 'in', names)
    .where((eb) =>
      eb.or([
        eb.and([eb('status', '=', sql.lit('pending')), eb('run_at', '<=', now)]),
        eb.and([eb('status', '=', sql.lit('running')), eb('lease_until', '<', now)]),
      ]),
    );
}

// Placeholders for the names and the two instants; calls pass [...names, now, now].
const selectAnyDue = compiledQueryPerShape<DB, { id: number }, [names: number]>((db, names) =>
  dueJobs(
    db,
    Array.from({ length: names }, () => ''),
    '',
  )
    .select('id')
    .limit(sql<number>`1`),
);

/**
 * A read first, compiled once, so an idle worker polling for work neither takes SQLite's
 * write lock nor builds a query on every poll.
 */
export async function hasDueJob(db: Kysely<DB>, names: string[], now: string): Promise<boolean> {
  if (names.length === 0) return false;
  return (await selectAnyDue(db, [names.length], [...names, now, now])).rows.length > 0;
}

/**
 * Takes the oldest due job and leases it to `holder`, counting the attempt. Concurrent
 * workers skip a row another is claiming (SKIP LOCKED on PostgreSQL; SQLite's one writer
 * serializes them), so each due job goes to one worker.
 */
export function claimDueJob(
  database: Database,
  names: string[],
  holder: string,
  now: string,
  leaseUntil: string,
): Promise<Job | undefined> {
  return database.writeTransaction(async (trx) => {
    const due = await database
      .skipLocked(
        dueJobs(trx, names, now)
          .select(['id', 'status', 'lease_holder'])
          .orderBy('run_at')
          .orderBy('id')
          .limit(1),
      )
      .executeTakeFirst();
    if (!due) return undefined;
    return trx
      .updateTable('jobs')
      .set((eb) => ({
        status: 'running',
        attempts: eb('attempts', '+', 1),
        lease_until: leaseUntil,
        lease_holder: holder,
        started_at: now,
        updated_at: now,
        // A lease that ran out is a run that never finished: say so where operators look.
        ...(due.status === 'running' ? { last_error: `lease of ${due.lease_holder} ran out` } : {}),
      }))
      .where('id', '=', due.id)
      .returningAll()
      .executeTakeFirst();
  });
}

/** Every change to a running job names its holder: a worker that lost its lease changes nothing. */
function held(db: Kysely<DB>, id: number, holder: string) {
  return db
    .updateTable('jobs')
    .where('id', '=', id)
    .where('status', '=', 'running')
    .where('lease_holder', '=', holder);
}

/** Extends the lease; false when it is no longer this holder's. */
export async function renewLease(
  db: Kysely<DB>,
  id: number,
  holder: string,
  leaseUntil: string,
  now: string,
): Promise<boolean> {
  const result = await held(db, id, holder)
    .set({ lease_until: leaseUntil, updated_at: now })
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function markSucceeded(
  db: Kysely<DB>,
  id: number,
  holder: string,
  result: string | null,
  now: string,
): Promise<void> {
  await held(db, id, holder)
    .set({ status: 'succeeded', result, lease_until: null, finished_at: now, updated_at: now })
    .execute();
}

/** Back to pending, due at `runAt`, keeping the error. */
export async function markRetry(
  db: Kysely<DB>,
  id: number,
  holder: string,
  runAt: string,
  error: string,
  now: string,
): Promise<void> {
  await held(db, id, holder)
    .set({ status: 'pending', run_at: runAt, last_error: error, lease_until: null, updated_at: now })
    .execute();
}

/** Out of attempts: failed for good, the error kept for the operator. */
export async function markFailed(
  db: Kysely<DB>,
  id: number,
  holder: string,
  error: string,
  now: string,
): Promise<void> {
  await held(db, id, holder)
    .set({ status: 'failed', last_error: error, lease_until: null, finished_at: now, updated_at: now })
    .execute();
}

/** A run interrupted by a graceful stop: due again at once, and the attempt not counted. */
export async function release(db: Kysely<DB>, id: number, holder: string, now: string): Promise<void> {
  await held(db, id, holder)
    .set((eb) => ({
      status: 'pending',
      attempts: eb('attempts', '-', 1),
      run_at: now,
      lease_until: null,
      updated_at: now,
    }))
    .execute();
}

export interface JobFilter {
  status?: JobStatus;
  name?: string;
  limit: number;
}

/** Newest first. */
export function listJobs(db: Kysely<DB>, filter: JobFilter): Promise<Job[]> {
  let query = db.selectFrom('jobs').selectAll().orderBy('id', 'desc').limit(filter.limit);
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.name) query = query.where('name', '=', filter.name);
  return query.execute();
}

export async function countJobs(
  db: Kysely<DB>,
): Promise<{ name: string; status: JobStatus; count: number }[]> {
  const rows = await db
    .selectFrom('jobs')
    .select((eb) => ['name', 'status', eb.fn.countAll<number>().as('count')])
    .groupBy(['name', 'status'])
    .execute();
  return rows.map((r) => ({ name: r.name, status: r.status, count: Number(r.count) }));
}

/** Deletes up to `limit` jobs that finished (succeeded or failed) before `before`. */
export async function deleteFinishedJobs(db: Kysely<DB>, before: string, limit: number): Promise<number> {
  const result = await db
    .deleteFrom('jobs')
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('jobs')
        .select('id')
        .where('status', 'in', ['succeeded', 'failed'])
        .where('finished_at', '<', before)
        .orderBy('id')
        .limit(limit),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
