import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { every, type JobDefinition } from '../../src/jobs/job.model.js';
import { webhookJobs } from '../../src/webhooks/webhook.jobs.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { adminClient, CLOSED_ID, exampleDirectory, importExample } from '../helpers/directory.js';
import { runJob } from '../helpers/jobs.js';
import { accounts, evidenceOf, now, reportWithBearer, timesheetsToken } from '../helpers/reporting.js';
import { until } from '../helpers/wait.js';
import { startReceiver } from '../helpers/webhook-receiver.js';

const SECRET = `whsec_${Buffer.from('outbox-cleanup-secret-32-bytes!!').toString('base64')}`;
const DAY_MS = 86_400_000;
const daysAgo = (n: number) => new Date(Date.now() - n * DAY_MS).toISOString();

let t: TestApp;
let admin: string;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let deliveredCleanup: JobDefinition;
let deadCleanup: JobDefinition;

beforeAll(async () => {
  receiver = await startReceiver(SECRET);
  t = await createTestApp({ CUSTOS_ALLOW_PRIVATE_WEBHOOKS: 'true', CUSTOS_WORKER_POLL_MS: '10' });
  const file = exampleDirectory();
  for (const app of file.apps ?? []) app.webhook = { url: receiver.url, secret: SECRET };
  await importExample(t, file);
  admin = await adminClient(t);
  [deliveredCleanup, deadCleanup] = webhookJobs(
    t.ctx.database,
    t.ctx.compliance,
    { schedule: every(3_600_000), limits: { batchSize: 2, maxBatches: 100, pauseMs: 0 } },
    { deliveredMs: 30 * DAY_MS, deadMs: 90 * DAY_MS },
  ) as [JobDefinition, JobDefinition];
});
afterAll(async () => {
  await t.close();
  await receiver.close();
});

const evidence = (accountId: string) => evidenceOf(t, admin, accountId);

const messages = () =>
  t.ctx.database.db.selectFrom('webhook_messages').select(['id', 'status']).orderBy('seq').execute();

/** An outbox row as delivery leaves it. */
function message(
  id: string,
  status: 'pending' | 'dead',
  lastAttemptAt: string,
  nextAttemptAt = lastAttemptAt,
) {
  return {
    id,
    app_key: 'com.vendor.mailer',
    event_type: 'app.installed',
    payload: '{}',
    status,
    attempts: 3,
    next_attempt_at: nextAttemptAt,
    created_at: lastAttemptAt,
    last_attempt_at: lastAttemptAt,
    last_error: 'HTTP 500',
  };
}

describe('webhook outbox clean-up', () => {
  it('deletes delivered messages past the retention and keeps the art. 19 evidence on the notices', async () => {
    const reported = await reportWithBearer(t, await timesheetsToken(t), accounts([CLOSED_ID, now()]));
    expect(reported.statusCode).toBe(204);
    const closed = await t.app.inject({
      method: 'POST',
      url: `/admin/accounts/${CLOSED_ID}/close`,
      headers: { authorization: admin },
    });
    expect(closed.statusCode).toBe(200);
    await until(async () => (await messages()).every((m) => m.status === 'delivered'));
    const before = await evidence(CLOSED_ID);
    expect(before.apps.length).toBeGreaterThanOrEqual(2);
    for (const app of before.apps)
      expect(app).toMatchObject({ toldBy: ['webhook'], webhookStatus: 'delivered' });
    expect(await runJob(deliveredCleanup), 'nothing is past the retention yet').toMatchObject({ deleted: 0 });
    const delivered = (await messages()).length;
    await t.ctx.database.db
      .updateTable('webhook_messages')
      .set({ delivered_at: daysAgo(31) })
      .execute();
    const due = await evidence(CLOSED_ID);
    expect(await runJob(deliveredCleanup)).toEqual({
      deleted: delivered,
      batches: Math.floor(delivered / 2) + 1,
      complete: true,
    });
    expect(await messages()).toEqual([]);
    // Told, delivered at, by which channel: the same answer without the outbox rows.
    expect(await evidence(CLOSED_ID)).toEqual(due);
  });

  it('deletes dead letters only after their own retention, and never a pending message', async () => {
    await t.ctx.database.db
      .insertInto('webhook_messages')
      .values([
        message('msg_dead_old', 'dead', daysAgo(91)),
        message('msg_dead_recent', 'dead', daysAgo(60)),
        // Pending for a year (a long Retry-After, say): still owed to the app.
        message('msg_pending', 'pending', daysAgo(365), daysAgo(-1)),
      ])
      .execute();
    expect(await runJob(deadCleanup)).toEqual({ deleted: 1, batches: 1, complete: true });
    const inserted = ['msg_dead_old', 'msg_dead_recent', 'msg_pending'];
    expect((await messages()).filter((m) => inserted.includes(m.id))).toEqual([
      { id: 'msg_dead_recent', status: 'dead' },
      { id: 'msg_pending', status: 'pending' },
    ]);
  });
});
