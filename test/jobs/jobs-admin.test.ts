import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consentClient, createTestApp, type TestApp } from '../helpers/app.js';
import { adminClient } from '../helpers/directory.js';
import { until } from '../helpers/wait.js';

const SCHEDULED = [
  'audit.checkpoint',
  'consent.inbox-cleanup',
  'dsr.export-cleanup',
  'dsr.watch',
  'grants.expired-cleanup',
  'jobs.cleanup',
  'notifications.cleanup',
  'reporting.overdue-reminders',
  'sessions.expired-cleanup',
  'signin.expired-cleanup',
  'webhooks.dead-cleanup',
  'webhooks.delivered-cleanup',
];

let t: TestApp;
let admin: string;

beforeAll(async () => {
  t = await createTestApp({ CUSTOS_WORKER_POLL_MS: '10' });
  admin = await adminClient(t);
});
afterAll(() => t.close());

const list = (query = '', authorization = admin) =>
  t.app.inject({ method: 'GET', url: `/admin/jobs${query}`, headers: { authorization } });

describe('GET /admin/jobs', () => {
  it("lists every domain's scheduled jobs, run by the in-process worker as they come due", async () => {
    const names = async () =>
      [
        ...new Set((await list('?status=succeeded')).json().values.map((j: { name: string }) => j.name)),
      ].sort();
    await until(async () => (await names()).length === SCHEDULED.length);
    expect(await names()).toEqual(SCHEDULED);
    const res = await list();
    expect(res.statusCode).toBe(200);
    const jobs = res.json().values as Record<string, unknown>[];
    const cleanup = jobs.find((j) => j.name === 'consent.inbox-cleanup');
    expect(cleanup).toEqual({
      id: expect.any(Number),
      name: 'consent.inbox-cleanup',
      key: cleanup?.runAt,
      status: 'succeeded',
      attempts: 1,
      runAt: expect.stringMatching(/T\d\d:00:00\.000Z$/),
      leaseUntil: null,
      leaseHolder: expect.stringMatching(new RegExp(`:${process.pid}:[0-9a-f]{6}$`)),
      lastError: null,
      result: { deleted: 0, batches: 1, complete: true },
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
      startedAt: expect.any(String),
      finishedAt: expect.any(String),
    });
  });

  it('filters by name, status and limit', async () => {
    const named = (await list('?name=reporting.overdue-reminders')).json().values;
    expect(named.map((j: { name: string }) => j.name)).toEqual(['reporting.overdue-reminders']);
    expect(named[0].result).toEqual({ reminded: 0 });
    expect((await list('?status=failed')).json().values).toEqual([]);
    expect((await list('?limit=2')).json().values).toHaveLength(2);
  });

  it('answers 400 naming the field for a bad filter', async () => {
    for (const query of ['?status=dead', '?limit=0', '?other=1']) {
      const res = await list(query);
      expect(res.statusCode, query).toBe(400);
      expect(res.json()).toMatchObject({ errorType: 'VALIDATION_FAILED', field: expect.any(String) });
    }
    expect((await list('?status=dead')).json().field).toMatch(/status/);
  });

  it('is for admins only', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/admin/jobs' })).statusCode).toBe(401);
    const { authorization } = await consentClient(t, 'crm@example.com');
    expect((await list('', authorization)).statusCode).toBe(403);
    const doc = (await t.app.inject('/openapi.json')).json();
    expect(doc.paths['/admin/jobs'].get.security).toEqual([{ basic: [] }]);
  });
});

describe('job metrics', () => {
  it('GET /metrics shows jobs by name and status, and runs by outcome', async () => {
    const text = (await t.app.inject('/metrics')).body;
    for (const name of SCHEDULED) {
      // One run per due time: one so far, unless a due time passed during the test.
      expect(text).toMatch(new RegExp(`custos_jobs\\{name="${name}",status="succeeded"\\} [12]\n`));
      expect(text).toMatch(
        new RegExp(`custos_job_runs_total\\{name="${name}",outcome="succeeded"\\} [12]\n`),
      );
    }
    expect(text).toMatch(/custos_job_duration_seconds_count\{name="consent\.inbox-cleanup"\} [12]\n/);
  });
});
