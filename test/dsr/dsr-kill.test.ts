import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { type Context, createContext } from '../../src/context.js';
import type { DsrType } from '../../src/dsr/dsr.rules.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import {
  exited,
  runCustos,
  startWorker as startCustosWorker,
  TEST_AUDIT_SIGNING_KEY_FILE,
} from '../helpers/process.js';
import { until } from '../helpers/wait.js';

/**
 * `kill -9` of the worker while it runs requests' steps: another worker takes over once the
 * lease runs out, every request reaches its end, and no step is lost or made twice.
 */

const PEOPLE = 15;
const TYPES: DsrType[] = ['access', 'objection', 'erasure'];
const OPERATOR = { type: 'operator', id: 'test' } as const;
/** The transitions each type makes, in order, after `filed` and `verified`. */
const STEPS: Record<string, string[]> = {
  access: ['apps-asked', 'apps-closed', 'completed'],
  objection: ['completed'],
  erasure: ['deactivated', 'grace-ended', 'completed'],
};

let database: TestDatabase;
let env: Record<string, string>;
let ctx: Context;
const workers: ChildProcess[] = [];

async function startWorker(): Promise<ChildProcess> {
  const child = await startCustosWorker(env, 60_000);
  workers.push(child);
  return child;
}

const progressed = async () =>
  Number(
    (
      await ctx.database.db
        .selectFrom('dsr_events')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('actor', '=', 'system:dsr')
        .executeTakeFirstOrThrow()
    ).n,
  );

beforeAll(async () => {
  database = await createTestDatabase();
  env = {
    DATABASE_URL: database.url,
    CUSTOS_SECRET_KEY: randomBytes(32).toString('base64'),
    CUSTOS_WORKER_POLL_MS: '20',
    CUSTOS_JOB_LEASE_S: '2',
    CUSTOS_DSR_ERASURE_GRACE_DAYS: '0',
    CUSTOS_AUDIT_SIGNING_KEY_FILE: TEST_AUDIT_SIGNING_KEY_FILE,
  };
  const migrated = await runCustos(['migrate'], env);
  expect(migrated.code, migrated.stderr).toBe(0);
  // The operator's side, as `custos dsr file` and `dsr verify` do it: no worker in this process.
  ctx = await createContext(loadConfig({ ...env, LOG_LEVEL: 'silent' }), { worker: false });
  const accounts = Array.from({ length: PEOPLE }, (_, i) => ({
    accountId: `person-${i}`,
    accountType: 'atlassian' as const,
    email: `person-${i}@example.org`,
    nickname: `p${i}`,
  }));
  await ctx.importer.importDirectory({ accounts }, OPERATOR);
  for (const { accountId } of accounts)
    for (const type of TYPES) {
      const filed = await ctx.dsr.file({ accountId, type, via: 'cli', signedIn: false }, OPERATOR);
      await ctx.dsr.verify(filed.id, OPERATOR);
    }
  // Forty-five requests filed and verified, each with its audit entries: slow on a busy machine.
}, 180_000);

afterAll(async () => {
  for (const child of workers)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(workers.map(exited));
  await ctx?.close();
  await database?.drop();
});

describe('a worker killed with SIGKILL in the middle of requests’ steps', () => {
  it('loses nothing: another worker finishes every request, each step made once', {
    timeout: 120_000,
  }, async () => {
    const total = PEOPLE * TYPES.length;
    const first = await startWorker();
    await until(async () => (await progressed()) >= 3, {
      timeoutMs: 30_000,
      intervalMs: 2,
      message: 'steps to begin',
    });
    first.kill('SIGKILL');
    await exited(first);
    const done = await ctx.dsr.list({ state: 'completed', limit: 1000 });
    expect(done.length).toBeLessThan(total);

    await startWorker();
    await until(async () => (await ctx.dsr.list({ state: 'completed', limit: 1000 })).length === total, {
      timeoutMs: 90_000,
      message: 'every request to complete',
    });
    for (const r of await ctx.dsr.list({ limit: 1000 })) {
      const { timeline } = await ctx.dsr.show(r.id);
      expect(
        timeline.map((e) => e.action).filter((a) => a !== 'step-failed'),
        `${r.type} ${r.id}`,
      ).toEqual(['filed', 'verified', ...(STEPS[r.type] ?? [])]);
    }
    for (let i = 0; i < PEOPLE; i++)
      expect((await ctx.directory.getAccount(`person-${i}`)).active, `person-${i}`).toBe(false);
    const suppressed = await ctx.database.db.selectFrom('marketing_suppressions').select('email').execute();
    expect(suppressed).toHaveLength(PEOPLE);
    const verify = await runCustos(['audit', 'verify'], env);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });
});
