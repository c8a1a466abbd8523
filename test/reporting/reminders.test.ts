import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppWebhookEndpoints } from '../../src/directory/webhook-endpoints.js';
import { ReportingReminders } from '../../src/reporting/reminder.service.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import {
  ACTIVE_ID,
  ADA,
  exampleDirectory,
  importExample,
  oauthToken,
  SECRETS,
} from '../helpers/directory.js';
import { accounts, now, reportWithBearer, timesheetsToken } from '../helpers/reporting.js';
import { until } from '../helpers/wait.js';
import { startReceiver } from '../helpers/webhook-receiver.js';

const SECRET = `whsec_${Buffer.from('reminders-secret-of-32-bytes-ok!').toString('base64')}`;
const TIMESHEETS = 'com.vendor.timesheets';
const REPORTER = 'com.vendor.reporter';
const DAY_MS = 86_400_000;
const CYCLE_DAYS = 15;

let t: TestApp;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let reminders: ReportingReminders;

beforeAll(async () => {
  receiver = await startReceiver(SECRET);
  t = await createTestApp({ CUSTOS_ALLOW_PRIVATE_WEBHOOKS: 'true', CUSTOS_WORKER_POLL_MS: '10' });
  // Timesheets has an endpoint; Reporter, which also stores PD, has none.
  const file = exampleDirectory();
  for (const app of file.apps ?? [])
    if (app.key === TIMESHEETS) app.webhook = { url: receiver.url, secret: SECRET };
  await importExample(t, file);
  reminders = new ReportingReminders(
    t.ctx.database,
    t.ctx.compliance,
    new AppWebhookEndpoints(t.ctx.database, t.ctx.secrets),
    CYCLE_DAYS,
  );
});
afterAll(async () => {
  await t.close();
  await receiver.close();
});

type Event = { id: string; type: string; timestamp: string; data: Record<string, unknown> };
const overdueEvents = () =>
  [...receiver.unique.values()].map((r) => r.body as Event).filter((e) => e.type === 'reporting.overdue');

/** Makes the app's report of `accountId` older than the cycle. */
async function lateReport(appKey: string, accountId: string) {
  await t.ctx.database.db
    .updateTable('holdings')
    .set({ reported_at: new Date(Date.now() - (CYCLE_DAYS + 1) * DAY_MS).toISOString() })
    .where('app_key', '=', appKey)
    .where('account_id', '=', accountId)
    .execute();
}

const cycleAfter = (n: number) => new Date(Date.now() + n * CYCLE_DAYS * DAY_MS);

describe('reporting-cycle reminders', () => {
  it('sends an overdue app one signed reporting.overdue webhook per cycle, with counts and no account ids', async () => {
    const timesheets = await timesheetsToken(t);
    expect(
      (await reportWithBearer(t, timesheets, accounts([ADA, now()], [ACTIVE_ID, now()]))).statusCode,
    ).toBe(204);
    const reporter = await oauthToken(t, 'reporter', SECRETS.readerClient, 'report:personal-data');
    expect((await reportWithBearer(t, reporter, accounts([ADA, now()]))).statusCode).toBe(204);
    expect(await reminders.remindOverdueApps(), 'every app reported within its cycle').toBe(0);

    await lateReport(TIMESHEETS, ADA);
    await lateReport(REPORTER, ADA);
    expect(await reminders.remindOverdueApps()).toBe(1);
    await until(() => overdueEvents().length === 1);
    const [event] = overdueEvents();
    expect(event).toEqual({
      id: expect.stringMatching(/^evt_/),
      type: 'reporting.overdue',
      timestamp: expect.any(String),
      data: {
        appKey: TIMESHEETS,
        overdueAccounts: 1,
        heldAccounts: 2,
        lastReportedAt: expect.any(String),
        cycleDays: CYCLE_DAYS,
      },
    });
    expect([...receiver.arrivals].every((a) => a.verified)).toBe(true);
    expect(JSON.stringify(event)).not.toContain(ADA);

    expect(await reminders.remindOverdueApps(), 'once per cycle').toBe(0);
    expect(await reminders.remindOverdueApps(cycleAfter(1)), 'and again the next cycle').toBe(1);
    // Written for then (so due then, too): by then the account reported on time is late as well.
    const [next] = await t.ctx.database.db
      .selectFrom('webhook_messages')
      .select('payload')
      .where('event_type', '=', 'reporting.overdue')
      .orderBy('seq', 'desc')
      .limit(1)
      .execute();
    expect(JSON.parse(next?.payload ?? '{}').data).toMatchObject({ overdueAccounts: 2, heldAccounts: 2 });

    const sent = await t.ctx.database.db
      .selectFrom('reporting_reminders')
      .select(['app_key', 'overdue_accounts'])
      .orderBy('cycle_start')
      .execute();
    expect(sent).toEqual([
      { app_key: TIMESHEETS, overdue_accounts: 1 },
      { app_key: TIMESHEETS, overdue_accounts: 2 },
    ]);
  });

  it('two workers checking the same cycle at once send one reminder', async () => {
    const at = cycleAfter(2);
    const sent = await Promise.all([reminders.remindOverdueApps(at), reminders.remindOverdueApps(at)]);
    expect(sent.reduce((a, b) => a + b, 0)).toBe(1);
    const messages = await t.ctx.database.db
      .selectFrom('webhook_messages')
      .select('id')
      .where('event_type', '=', 'reporting.overdue')
      .execute();
    expect(messages).toHaveLength(3);
  });
});
