import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../../src/db/dialect.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { inBatches } from '../../src/jobs/cleanup.js';
import { dailyAt, every, type JobDefinition, type JobRun } from '../../src/jobs/job.model.js';
import { claimDueJob } from '../../src/jobs/job.repository.js';
import { JobService } from '../../src/jobs/job.service.js';
import { JobRunner, type RunOutcome } from '../../src/jobs/job-runner.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let testDb: TestDatabase;
let database: Database;
const silent = pino({ level: 'silent' });

beforeAll(async () => {
  testDb = await createTestDatabase();
  database = openDatabase(testDb.url);
  await migrateToLatest(database.db);
});
afterAll(async () => {
  await database.close();
  await testDb.drop();
});
beforeEach(async () => {
  await database.db.deleteFrom('jobs').execute();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function runner(definitions: JobDefinition[], leaseMs = 5000, outcomes: RunOutcome[] = []) {
  return new JobRunner(database, definitions, { leaseMs, onRun: (_name, o) => outcomes.push(o) }, silent);
}

function enqueue(definitions: JobDefinition[], name: string, payload = {}, options = {}) {
  return database.writeTransaction((trx) =>
    new JobService(database, definitions).enqueue(trx, name, payload, options),
  );
}

const jobRow = (id: number) =>
  database.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
const makeDue = (id: number) =>
  database.db.updateTable('jobs').set({ run_at: new Date().toISOString() }).where('id', '=', id).execute();

/** A definition that records its runs and does what `behave` says on each. */
function recorder(
  name: string,
  behave: (run: JobRun, n: number) => Promise<Record<string, number> | undefined> = async () => undefined,
  extra: Partial<JobDefinition> = {},
) {
  const runs: JobRun[] = [];
  const definition: JobDefinition = {
    name,
    async run(job) {
      runs.push(job);
      return behave(job, runs.length);
    },
    ...extra,
  };
  return { definition, runs };
}

describe('enqueueing', () => {
  it('adds a job once per name and key, inside the caller transaction', async () => {
    const { definition } = recorder('test.echo');
    const first = await enqueue([definition], 'test.echo', { n: 1 }, { key: 'order-7' });
    const again = await enqueue([definition], 'test.echo', { n: 2 }, { key: 'order-7' });
    expect(first.created).toBe(true);
    expect(again).toEqual({ id: first.id, created: false });
    expect(JSON.parse((await jobRow(first.id)).payload)).toEqual({ n: 1 });

    const rolledBack = database.writeTransaction(async (trx) => {
      await new JobService(database, [definition]).enqueue(trx, 'test.echo', {}, { key: 'order-8' });
      throw new Error('the change failed');
    });
    await expect(rolledBack).rejects.toThrow('the change failed');
    const keys = await database.db.selectFrom('jobs').select('key').execute();
    expect(keys.map((k) => k.key)).toEqual(['order-7']);
  });

  it('refuses a job name nothing registered', async () => {
    await expect(enqueue([], 'test.nobody')).rejects.toThrow(/no job named test\.nobody/);
  });
});

describe('running', () => {
  it('runs a job when it is due, with its payload, and keeps its result', async () => {
    const { definition, runs } = recorder('test.echo', async (run) => ({ echoed: Number(run.payload.n) }));
    const r = runner([definition]);
    const later = await enqueue(
      [definition],
      'test.echo',
      { n: 1 },
      { runAt: new Date(Date.now() + 60_000) },
    );
    expect(await r.runOnce()).toBe(0);
    const now = await enqueue([definition], 'test.echo', { n: 2 });
    expect(await r.runOnce()).toBe(1);
    expect(await r.runOnce()).toBe(0);
    expect(runs.map((run) => run.payload)).toEqual([{ n: 2 }]);
    expect(await jobRow(now.id)).toMatchObject({
      status: 'succeeded',
      attempts: 1,
      result: '{"echoed":2}',
      lease_until: null,
      lease_holder: r.holder,
    });
    expect((await jobRow(later.id)).status).toBe('pending');
  });

  it('retries a failing job with exponential backoff and keeps its last error', async () => {
    const { definition, runs } = recorder(
      'test.flaky',
      async (_run, n) => {
        if (n < 3) throw new Error(`boom ${n}`);
        return { ok: 1 };
      },
      { maxAttempts: 5, retryBaseMs: 10_000 },
    );
    const outcomes: RunOutcome[] = [];
    const r = runner([definition], 5000, outcomes);
    const { id } = await enqueue([definition], 'test.flaky');

    for (const [attempt, [low, high]] of [
      [1, [5_000, 10_000]],
      [2, [10_000, 20_000]],
    ] as const) {
      expect(await r.runOnce()).toBe(1);
      const row = await jobRow(id);
      expect(row).toMatchObject({ status: 'pending', attempts: attempt, last_error: `boom ${attempt}` });
      const delay = Date.parse(row.run_at) - Date.parse(row.updated_at);
      expect(delay).toBeGreaterThanOrEqual(low);
      expect(delay).toBeLessThanOrEqual(high);
      expect(await r.runOnce(), 'not due before its retry time').toBe(0);
      await makeDue(id);
    }
    expect(await r.runOnce()).toBe(1);
    expect(await jobRow(id)).toMatchObject({ status: 'succeeded', attempts: 3, result: '{"ok":1}' });
    expect(runs.map((run) => run.attempt)).toEqual([1, 2, 3]);
    expect(outcomes).toEqual(['retrying', 'retrying', 'succeeded']);
  });

  it('marks a job failed after its last attempt, keeps the error, and never runs it again', async () => {
    const { definition, runs } = recorder(
      'test.broken',
      async () => {
        throw new Error('the endpoint is gone');
      },
      { maxAttempts: 2 },
    );
    const r = runner([definition]);
    const { id } = await enqueue([definition], 'test.broken');
    expect(await r.runOnce()).toBe(1);
    await makeDue(id);
    expect(await r.runOnce()).toBe(1);
    const row = await jobRow(id);
    expect(row).toMatchObject({ status: 'failed', attempts: 2, last_error: 'the endpoint is gone' });
    expect(row.finished_at).not.toBeNull();
    await makeDue(id);
    expect(await r.runOnce()).toBe(0);
    expect(runs).toHaveLength(2);
  });
});

describe('leases', () => {
  it('a job whose worker died is run again by another once its lease has run out', async () => {
    const { definition, runs } = recorder('test.echo');
    const { id } = await enqueue([definition], 'test.echo');
    // A worker claims the job and dies: nothing renews or finishes it.
    const now = Date.now();
    const claimed = await claimDueJob(
      database,
      ['test.echo'],
      'dead-host:1:aaaaaa',
      new Date(now).toISOString(),
      new Date(now + 2000).toISOString(),
    );
    expect(claimed?.id).toBe(id);

    const survivor = runner([definition]);
    expect(await survivor.runOnce(), 'the lease still holds').toBe(0);
    await sleep(2200);
    expect(await survivor.runOnce()).toBe(1);
    expect(runs).toHaveLength(1);
    expect(await jobRow(id)).toMatchObject({
      status: 'succeeded',
      attempts: 2,
      lease_holder: survivor.holder,
      last_error: 'lease of dead-host:1:aaaaaa ran out',
    });
  });

  it('a live worker renews its lease, so a run longer than the lease is not taken over', async () => {
    const { definition, runs } = recorder('test.slow', async () => {
      await sleep(3000);
      return undefined;
    });
    const { id } = await enqueue([definition], 'test.slow');
    const a = runner([definition], 1000);
    const b = runner([definition], 1000);
    const running = a.runOnce();
    let tookOver = 0;
    const deadline = Date.now() + 2900;
    while (Date.now() < deadline) {
      tookOver += await b.runOnce();
      await sleep(50);
    }
    expect(await running).toBe(1);
    expect(tookOver).toBe(0);
    expect(runs).toHaveLength(1);
    expect(await jobRow(id)).toMatchObject({ status: 'succeeded', attempts: 1, lease_holder: a.holder });
  });

  it('a job whose every run died with its worker fails after its attempts instead of looping', async () => {
    const { definition, runs } = recorder('test.poison', undefined, { maxAttempts: 2 });
    const { id } = await enqueue([definition], 'test.poison');
    for (let i = 0; i < 2; i += 1) {
      const now = Date.now();
      await claimDueJob(
        database,
        ['test.poison'],
        `dead-host:${i}:aaaaaa`,
        new Date(now).toISOString(),
        new Date(now - 1).toISOString(),
      );
    }
    expect(await runner([definition]).runOnce()).toBe(1);
    expect(runs).toHaveLength(0);
    const row = await jobRow(id);
    expect(row.status).toBe('failed');
    expect(row.last_error).toMatch(/lease of dead-host:1:aaaaaa ran out; gave up after 2 attempts/);
  });

  it('a graceful stop ends a long run early and leaves the job due at once, the attempt not counted', async () => {
    const { definition } = recorder('test.long', async (run) => {
      while (!run.signal.aborted) await sleep(20);
      return undefined;
    });
    const outcomes: RunOutcome[] = [];
    const r = runner([definition], 5000, outcomes);
    const { id } = await enqueue([definition], 'test.long');
    const running = r.runOnce();
    await sleep(100);
    expect((await jobRow(id)).status).toBe('running');
    r.interrupt();
    expect(await running).toBe(1);
    expect(await jobRow(id)).toMatchObject({ status: 'pending', attempts: 0, lease_until: null });
    expect(outcomes).toEqual(['interrupted']);
    expect(await r.runOnce(), 'a stopping runner claims nothing').toBe(0);
  });
});

describe('concurrent workers', () => {
  it('two workers on one database run every enqueued job exactly once', async () => {
    const seen: string[] = [];
    const definition: JobDefinition = {
      name: 'test.count',
      async run(job) {
        seen.push(job.key);
        await sleep(5);
        return undefined;
      },
    };
    for (let i = 0; i < 30; i += 1) await enqueue([definition], 'test.count', {}, { key: `k${i}` });
    const workers = [runner([definition]), runner([definition])];
    const done = await Promise.all(
      workers.map(async (w) => {
        let n = 0;
        for (let ran = 1; ran > 0; n += ran) ran = await w.runOnce();
        return n;
      }),
    );
    expect(done.reduce((a, b) => a + b, 0)).toBe(30);
    expect(seen.sort()).toEqual(Array.from({ length: 30 }, (_, i) => `k${i}`).sort());
  });

  it('inserts each due time of a scheduled job once, however many workers see it come due', async () => {
    const seen: string[] = [];
    const definition: JobDefinition = {
      name: 'test.tick',
      schedule: every(1000),
      async run(job) {
        seen.push(job.key);
        return undefined;
      },
    };
    const workers = [runner([definition]), runner([definition]), runner([definition])];
    const until = Date.now() + 3200;
    await Promise.all(
      workers.map(async (w) => {
        while (Date.now() < until) {
          await w.runOnce();
          await sleep(20);
        }
      }),
    );
    const rows = await database.db.selectFrom('jobs').selectAll().where('name', '=', 'test.tick').execute();
    expect(rows.length).toBeGreaterThanOrEqual(2);
    expect(seen.sort()).toEqual(rows.map((r) => r.key).sort());
    for (const row of rows) expect(Date.parse(row.key) % 1000).toBe(0);
    for (const row of rows) expect(row).toMatchObject({ status: 'succeeded', attempts: 1, run_at: row.key });
  });
});

describe('schedules', () => {
  it('every(ms) is aligned to the epoch', () => {
    const hourly = every(3_600_000);
    expect(hourly.latestDue(new Date('2026-11-24T05:31:48.123Z')).toISOString()).toBe(
      '2026-11-24T05:00:00.000Z',
    );
    expect(hourly.latestDue(new Date('2026-11-24T05:00:00.000Z')).toISOString()).toBe(
      '2026-11-24T05:00:00.000Z',
    );
    expect(() => every(10)).toThrow();
  });

  it('dailyAt(HH:MM) is due today once the time has passed, yesterday before', () => {
    const nine = dailyAt('09:00');
    expect(nine.latestDue(new Date('2026-11-24T09:00:00.000Z')).toISOString()).toBe(
      '2026-11-24T09:00:00.000Z',
    );
    expect(nine.latestDue(new Date('2026-11-24T23:59:00.000Z')).toISOString()).toBe(
      '2026-11-24T09:00:00.000Z',
    );
    expect(nine.latestDue(new Date('2026-11-24T08:59:59.999Z')).toISOString()).toBe(
      '2026-11-23T09:00:00.000Z',
    );
    expect(() => dailyAt('24:00')).toThrow();
    expect(() => dailyAt('9:00')).toThrow();
  });
});

describe('bounded batches', () => {
  const limits = { batchSize: 10, maxBatches: 3, pauseMs: 0 };

  it('stops at a short batch, at the batch limit, or when the run is aborted', async () => {
    let left = 25;
    const take = async (size: number) => {
      const n = Math.min(size, left);
      left -= n;
      return n;
    };
    expect(await inBatches(new AbortController().signal, limits, take)).toEqual({
      rows: 25,
      batches: 3,
      complete: true,
    });
    left = 100;
    expect(await inBatches(new AbortController().signal, limits, take)).toEqual({
      rows: 30,
      batches: 3,
      complete: false,
    });
    const stop = new AbortController();
    const outcome = await inBatches(stop.signal, limits, async (size) => {
      stop.abort();
      return take(size);
    });
    expect(outcome).toEqual({ rows: 10, batches: 1, complete: false });
  });
});
