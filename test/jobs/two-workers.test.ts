import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../../src/db/dialect.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { exited, runCustos, startWorker as startCustosWorker } from '../helpers/process.js';

/**
 * Two `custos worker` processes on one database, running a real scheduled job: the consent
 * inbox clean-up. Its effect (old applied rows gone, recent ones kept) and the jobs table
 * show one run per due time, and recovery when the worker running it is killed with SIGKILL.
 */

const JOB = 'consent.inbox-cleanup';
const OLD = '2020-01-01T00:00:00.000Z';

let database: TestDatabase;
let db: Database;
let baseEnv: Record<string, string>;
const workers: ChildProcess[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  baseEnv = {
    DATABASE_URL: database.url,
    CUSTOS_SECRET_KEY: randomBytes(32).toString('base64'),
    CUSTOS_WORKER_POLL_MS: '20',
  };
  const migrated = await runCustos(['migrate'], baseEnv);
  expect(migrated.code, migrated.stderr).toBe(0);
  db = openDatabase(database.url);
});
afterEach(async () => {
  for (const child of workers.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited(child);
  }
  await db.db.deleteFrom('jobs').execute();
  await db.db.deleteFrom('consent_requests').execute();
});
afterAll(async () => {
  await db.close();
  await database.drop();
});

/** Starts `custos worker` and resolves once it runs. */
async function startWorker(env: Record<string, string>): Promise<ChildProcess> {
  const child = await startCustosWorker({ ...baseEnv, ...env });
  workers.push(child);
  return child;
}

/** Inbox rows as the applier leaves them: applied at `appliedAt`. */
async function seedApplied(prefix: string, count: number, appliedAt: string) {
  const rows = Array.from({ length: count }, (_, i) => ({
    email: `${prefix}${i}@example.org`,
    locale: 'DE',
    form_url: null,
    provider_id: `${prefix}-${i}`,
    consents: '[]',
    client_id: 'client',
    remote_addr: '192.0.2.1',
    user_agent: null,
    received_at: appliedAt,
    applied_at: appliedAt,
  }));
  for (let i = 0; i < rows.length; i += 500) {
    await db.db
      .insertInto('consent_requests')
      .values(rows.slice(i, i + 500))
      .execute();
  }
}

const countLike = async (prefix: string) =>
  Number(
    (
      await db.db
        .selectFrom('consent_requests')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('provider_id', 'like', `${prefix}-%`)
        .executeTakeFirstOrThrow()
    ).n,
  );

const cleanupRuns = () =>
  db.db.selectFrom('jobs').selectAll().where('name', '=', JOB).orderBy('key').execute();

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('scheduled jobs across two worker processes', () => {
  it('runs the clean-up once per due time, whichever worker gets it', async () => {
    const env = { CUSTOS_CLEANUP_INTERVAL_S: '1' };
    await Promise.all([startWorker(env), startWorker(env)]);
    await seedApplied('recent', 20, new Date().toISOString());
    let seeded = 0;
    const stopAt = Date.now() + 3500;
    while (Date.now() < stopAt) {
      await seedApplied(`old${seeded}`, 25, OLD);
      seeded += 25;
      await sleep(400);
    }
    await until('the last old rows to go', async () => ((await countLike('old%')) === 0 ? true : undefined));
    // A run that deleted rows has recorded its result once no run is under way.
    await until('the runs under way to finish', async () =>
      (await cleanupRuns()).some((r) => r.status === 'running') ? undefined : true,
    );

    const runs = await cleanupRuns();
    expect(runs.length).toBeGreaterThanOrEqual(3);
    let deleted = 0;
    for (const run of runs.filter((r) => r.status !== 'pending' && r.status !== 'running')) {
      // One run per due time: never a second attempt, never a failure.
      expect(run).toMatchObject({ status: 'succeeded', attempts: 1, run_at: run.key, last_error: null });
      expect(Date.parse(run.key) % 1000).toBe(0);
      deleted += JSON.parse(run.result as string).deleted;
    }
    // Every old row was deleted by exactly one run; the applied rows within the retention stay.
    expect(deleted).toBe(seeded);
    expect(await countLike('recent')).toBe(20);
  });

  it('a worker killed with SIGKILL mid-run leaves a lease that runs out; the other worker finishes the job', async () => {
    // One due time for the whole test (daily, aligned to midnight UTC), and a run that takes
    // seconds: 1,000 rows, 10 per transaction, 50 ms apart.
    const env = {
      CUSTOS_CLEANUP_INTERVAL_S: '86400',
      CUSTOS_CLEANUP_BATCH_SIZE: '10',
      CUSTOS_CLEANUP_PAUSE_MS: '50',
      CUSTOS_CLEANUP_MAX_BATCHES: '100000',
      CUSTOS_JOB_LEASE_S: '2',
    };
    await seedApplied('old', 1000, OLD);
    await seedApplied('recent', 20, new Date().toISOString());
    const [a, b] = await Promise.all([startWorker(env), startWorker(env)]);

    const running = await until('the clean-up to be under way', async () => {
      const [run] = await cleanupRuns();
      const left = await countLike('old');
      return run?.status === 'running' && left < 1000 && left > 300 ? run : undefined;
    });
    const holder = running.lease_holder as string;
    const victim = holder.split(':')[1] === String(a?.pid) ? a : b;
    const survivor = victim === a ? b : a;
    expect([a?.pid, b?.pid]).toContain(Number(holder.split(':')[1]));
    victim?.kill('SIGKILL');
    await exited(victim as ChildProcess);
    const { lease_until: leaseAtKill } = (await cleanupRuns())[0] as { lease_until: string };
    const leftAtKill = await countLike('old');
    expect(leftAtKill).toBeGreaterThan(0);

    const finished = await until('the survivor to finish the job', async () => {
      const [run] = await cleanupRuns();
      return run?.status === 'succeeded' ? run : undefined;
    });
    expect(finished).toMatchObject({
      attempts: 2,
      key: running.key,
      last_error: `lease of ${holder} ran out`,
    });
    expect(finished.lease_holder?.split(':')[1]).toBe(String(survivor?.pid));
    // Taken over only once the dead worker's lease had run out.
    expect((finished.started_at as string) >= leaseAtKill).toBe(true);
    expect(JSON.parse(finished.result as string)).toMatchObject({ complete: true });
    expect(await countLike('old')).toBe(0);
    expect(await countLike('recent')).toBe(20);
    expect(await cleanupRuns()).toHaveLength(1);
  });
});

describe('custos jobs list', () => {
  it('prints the jobs table, filtered by status and name, and refuses an unknown status', async () => {
    await db.db
      .insertInto('jobs')
      .values(
        [
          [JOB, '2026-11-24T05:00:00.000Z', 'succeeded', '{"deleted":12}', null],
          [JOB, '2026-11-24T06:00:00.000Z', 'failed', null, 'database unavailable'],
          ['reporting.overdue-reminders', '2026-11-24T09:00:00.000Z', 'succeeded', '{"reminded":1}', null],
        ].map(([name, key, status, result, error]) => ({
          name: name as string,
          key: key as string,
          payload: '{}',
          status: status as 'succeeded' | 'failed',
          attempts: status === 'failed' ? 5 : 1,
          run_at: key as string,
          result,
          last_error: error,
          created_at: key as string,
          updated_at: key as string,
          finished_at: key as string,
        })),
      )
      .execute();

    const [all, failed, bad] = await Promise.all([
      runCustos(['jobs', 'list'], baseEnv),
      runCustos(['jobs', 'list', '--status', 'failed', '--name', JOB], baseEnv),
      runCustos(['jobs', 'list', '--status', 'dead'], baseEnv),
    ]);
    expect(all.code, all.stderr).toBe(0);
    const lines = all.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID +NAME +KEY +STATUS +ATTEMPTS +RUN AT +FINISHED +OUTCOME$/);
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(
      /reporting\.overdue-reminders +2026-11-24T09:00:00\.000Z +succeeded +1 .* reminded=1$/,
    );

    expect(failed.stdout.trimEnd().split('\n')).toHaveLength(2);
    expect(failed.stdout).toMatch(/failed +5 .* last error: database unavailable/);

    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--status must be one of pending, running, succeeded, failed/);
  });
});
