import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AppWebhookEndpoints } from '../../src/directory/webhook-endpoints.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { ACTIVE_ID, CLOSED_ID, exampleDirectory, importExample, OPERATOR } from '../helpers/directory.js';
import { runCustos } from '../helpers/process.js';
import { accounts, now, reportWithBearer, timesheetsToken } from '../helpers/reporting.js';

// Each test starts several CLI processes; each start takes seconds on a busy machine.
vi.setConfig({ testTimeout: 120_000 });

const SECRET = `whsec_${Buffer.from('cli-test-secret-of-thirty-two-b!').toString('base64')}`;
let t: TestApp;
let env: Record<string, string>;

beforeAll(async () => {
  t = await createTestApp({ CUSTOS_IN_PROCESS_WORKER: 'false' });
  const file = exampleDirectory();
  const timesheets = file.apps?.find((a) => a.key === 'com.vendor.timesheets');
  if (timesheets) timesheets.webhook = { url: 'https://hooks.vendor.test/custos', secret: SECRET };
  await importExample(t, file);
  const reported = await reportWithBearer(
    t,
    await timesheetsToken(t),
    accounts([ACTIVE_ID, now()], [CLOSED_ID, now()]),
  );
  expect(reported.statusCode).toBe(204);
  await t.ctx.directory.closeAccount(CLOSED_ID, OPERATOR);
  env = { DATABASE_URL: t.database.url, CUSTOS_SECRET_KEY: t.ctx.config.secretKey as string };
});
afterAll(() => t.close());

describe('custos compliance', () => {
  it('lists each app with its state, and the evidence for one account', async () => {
    const apps = await runCustos(['compliance'], env);
    expect(apps.code).toBe(0);
    expect(apps.stdout).toContain('Cycle: every 15 days');
    expect(apps.stdout).toMatch(/com\.vendor\.timesheets {2}ok .* held 2 {2}overdue 0/);
    expect(apps.stdout).toMatch(/com\.vendor\.reporter {2}never-reported/);

    const account = await runCustos(['compliance', '--account', CLOSED_ID, '--json'], env);
    const evidence = JSON.parse(account.stdout);
    expect(evidence.apps).toEqual([
      expect.objectContaining({
        appKey: 'com.vendor.timesheets',
        holds: true,
        toldBy: ['webhook'],
        deliveredAt: null,
      }),
    ]);
  });
});

describe('custos app rotate-webhook-secret', () => {
  it('prints a new secret once; both secrets sign during the grace period', async () => {
    const res = await runCustos(['app', 'rotate-webhook-secret', 'com.vendor.timesheets'], env);
    expect(res.code).toBe(0);
    const fresh = res.stdout.trimEnd().split('\n').pop() as string;
    expect(fresh).toMatch(/^whsec_/);
    const endpoint = await new AppWebhookEndpoints(t.ctx.database, t.ctx.secrets).find(
      'com.vendor.timesheets',
    );
    expect(endpoint?.secrets).toEqual([fresh, SECRET]);
    // A receiver still on the old secret and one already on the new one both verify.
    const payload = '{"type":"account.closed"}';
    const date = new Date();
    const headers = {
      'webhook-id': 'msg_1',
      'webhook-timestamp': String(Math.floor(date.getTime() / 1000)),
      'webhook-signature': endpoint?.secrets
        .map((s) => new Webhook(s).sign('msg_1', date, payload))
        .join(' ') as string,
    };
    expect(() => new Webhook(SECRET).verify(payload, headers)).not.toThrow();
    expect(() => new Webhook(fresh).verify(payload, headers)).not.toThrow();
  });

  it('refuses an app without an endpoint', async () => {
    const res = await runCustos(['app', 'rotate-webhook-secret', 'com.vendor.reporter'], env);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('no webhook endpoint');
  });
});
