import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import {
  ACTIVE_ID,
  ADA,
  adminClient,
  CLOSED_ID,
  exampleDirectory,
  GINA,
  importExample,
} from '../helpers/directory.js';
import { accounts, evidenceOf, now, reportWithBearer, timesheetsToken } from '../helpers/reporting.js';
import { until } from '../helpers/wait.js';
import { startReceiver } from '../helpers/webhook-receiver.js';

const SECRET = `whsec_${Buffer.from('propagation-secret-of-32-bytes!!').toString('base64')}`;
const TIMESHEETS = 'com.vendor.timesheets';
const MAILER = 'com.vendor.mailer';

let t: TestApp;
let admin: string;
let token: string;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

/** Timesheets and Mailer have endpoints (the receiver); Reporter has none. */
function directory() {
  const file = exampleDirectory();
  for (const app of file.apps ?? [])
    if (app.key !== 'com.vendor.reporter') app.webhook = { url: receiver.url, secret: SECRET };
  return file;
}

type Event = { id: string; type: string; timestamp: string; data: Record<string, unknown> };
const events = () => [...receiver.unique.values()].map((r) => r.body as Event);

async function appOf(webhookId: string) {
  const row = await t.ctx.database.db
    .selectFrom('webhook_messages')
    .select('app_key')
    .where('id', '=', webhookId)
    .executeTakeFirstOrThrow();
  return row.app_key;
}

async function received(type: string, accountId?: string) {
  const out: { app: string; event: Event }[] = [];
  for (const r of receiver.unique.values()) {
    const event = r.body as Event;
    if (event.type === type && (accountId === undefined || event.data.accountId === accountId))
      out.push({ app: await appOf(r.id), event });
  }
  return out.sort((a, b) => a.app.localeCompare(b.app));
}

const evidence = (accountId: string) => evidenceOf(t, admin, accountId);

beforeAll(async () => {
  receiver = await startReceiver(SECRET);
  t = await createTestApp({ CUSTOS_ALLOW_PRIVATE_WEBHOOKS: 'true', CUSTOS_WORKER_POLL_MS: '10' });
  await importExample(t, directory());
  admin = await adminClient(t);
  token = await timesheetsToken(t);
});
afterAll(async () => {
  await t.close();
  await receiver.close();
});

describe('lifecycle notices', () => {
  it('tells each app with an endpoint about its installations, with ids only', async () => {
    await until(async () => (await received('app.installed')).length === 3);
    const installed = await received('app.installed');
    const pairs = installed
      .map((i) => [i.app, i.event.data.siteId])
      .sort((a, b) => `${a}`.localeCompare(`${b}`));
    expect(pairs).toEqual([
      [MAILER, 'acme-prod'],
      [TIMESHEETS, 'acme-prod'],
      [TIMESHEETS, 'globex-prod'],
    ]);
    expect(Object.keys(installed[0]?.event.data ?? {}).sort()).toEqual([
      'appKey',
      'clientKey',
      'installationId',
      'siteId',
    ]);
  });
});

describe('closing an account', () => {
  it('sends signed account.closed webhooks to every app that holds it or is installed where it is a member', async () => {
    // Timesheets holds the account from here on; nothing about it has changed yet.
    expect((await reportWithBearer(t, token, accounts([CLOSED_ID, now()]))).statusCode).toBe(204);
    const res = await t.app.inject({
      method: 'POST',
      url: `/admin/accounts/${CLOSED_ID}/close`,
      headers: { authorization: admin },
    });
    expect(res.statusCode).toBe(200);
    await until(async () => (await received('account.closed', CLOSED_ID)).length === 2);
    const closed = await received('account.closed', CLOSED_ID);
    expect(closed.map((c) => c.app)).toEqual([MAILER, TIMESHEETS]);
    for (const { event } of closed) {
      // Thin payload: the event id (shared by every app), type, time, account and site ids.
      expect(event).toEqual({
        id: closed[0]?.event.id,
        type: 'account.closed',
        timestamp: res.json().closedAt,
        data: { accountId: CLOSED_ID, siteIds: ['acme-prod'] },
      });
    }
    expect([...receiver.arrivals].every((a) => a.verified)).toBe(true);
    const body = JSON.stringify(events());
    expect(body).not.toContain('@');
    expect(body).not.toContain('Lee');
  });

  it('shows, per app, when it was told, when the webhook was delivered, and when it confirmed erasure', async () => {
    await until(async () =>
      (await evidence(CLOSED_ID)).apps.every((a: { deliveredAt: unknown }) => a.deliveredAt),
    );
    const before = await evidence(CLOSED_ID);
    expect(before.closedAt).toEqual(expect.any(String));
    expect(before.apps).toEqual([
      expect.objectContaining({ appKey: MAILER, holds: false, toldBy: ['webhook'], confirmedAt: null }),
      expect.objectContaining({
        appKey: TIMESHEETS,
        holds: true,
        toldBy: ['webhook'],
        webhookStatus: 'delivered',
        confirmedAt: null,
      }),
    ]);
    expect(before.apps[1].toldAt <= before.apps[1].deliveredAt).toBe(true);

    // The next report says closed too, and is on record as a second way the app was told.
    const report = await reportWithBearer(t, token, accounts([CLOSED_ID, now()]));
    expect(report.json()).toEqual({ accounts: [{ accountId: CLOSED_ID, status: 'closed' }] });

    const confirm = await t.app.inject({
      method: 'POST',
      url: '/app/erased-accounts/',
      headers: { authorization: `Bearer ${token}` },
      payload: { accounts: [{ accountId: CLOSED_ID }] },
    });
    expect(confirm.statusCode).toBe(204);
    expect(confirm.headers['cycle-period']).toBe('15');
    const after = await evidence(CLOSED_ID);
    expect(after.apps[1]).toMatchObject({ appKey: TIMESHEETS, holds: false, toldBy: ['webhook', 'report'] });
    expect(after.apps[1].confirmedAt).toEqual(expect.any(String));
  });

  it('closing twice tells nobody again', async () => {
    const outbox = () =>
      t.ctx.database.db
        .selectFrom('webhook_messages')
        .select('id')
        .where('event_type', '=', 'account.closed')
        .orderBy('seq')
        .execute();
    const queued = await outbox();
    const count = receiver.unique.size;
    const res = await t.app.inject({
      method: 'POST',
      url: `/admin/accounts/${CLOSED_ID}/close`,
      headers: { authorization: admin },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      accountId: CLOSED_ID,
      closedAt: (await evidence(CLOSED_ID)).closedAt,
      alreadyClosed: true,
    });
    // Nothing was queued, so nothing can arrive later either.
    expect(await outbox()).toEqual(queued);
    await new Promise((r) => setTimeout(r, 200));
    expect(receiver.unique.size).toBe(count);
  });
});

describe('account changes through import', () => {
  it('sends account.updated only to apps that can see the account, naming only their sites', async () => {
    const file = directory();
    file.accounts = file.accounts?.filter((a) => a.accountId !== CLOSED_ID);
    file.sites = file.sites?.map((s) => ({ ...s, members: s.members?.filter((m) => m !== CLOSED_ID) }));
    for (const a of file.accounts ?? []) {
      if (a.accountId === ADA) a.jobTitle = 'Countess';
      if (a.accountId === GINA) a.nickname = 'g';
    }
    await importExample(t, file);
    await until(async () => (await received('account.updated')).length === 3);
    const updated = (await received('account.updated')).map((u) => [
      u.app,
      u.event.data.accountId,
      u.event.data.siteIds,
    ]);
    expect(updated).toEqual(
      expect.arrayContaining([
        [MAILER, ADA, ['acme-prod']],
        [TIMESHEETS, ADA, ['acme-prod']],
        [TIMESHEETS, GINA, ['globex-prod']],
      ]),
    );
  });

  it('an uninstall sends app.uninstalled', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/admin/installations/mailer-acme/uninstall',
      headers: { authorization: admin },
    });
    expect(res.statusCode).toBe(204);
    await until(async () => (await received('app.uninstalled')).length === 1);
    expect((await received('app.uninstalled'))[0]?.app).toBe(MAILER);
  });
});

describe('compliance', () => {
  it('lists never-reporting and overdue apps', async () => {
    expect((await reportWithBearer(t, token, accounts([ACTIVE_ID, now()], [ADA, now()]))).statusCode).toBe(
      204,
    );
    const list = async () =>
      (
        await t.app.inject({
          method: 'GET',
          url: '/admin/compliance/apps',
          headers: { authorization: admin },
        })
      ).json().apps;
    const byKey = (apps: { appKey: string }[], key: string) => apps.find((a) => a.appKey === key);
    let apps = await list();
    expect(byKey(apps, TIMESHEETS)).toMatchObject({ state: 'ok', heldAccounts: 2, overdueAccounts: 0 });
    expect(byKey(apps, 'com.vendor.reporter')).toMatchObject({
      state: 'never-reported',
      lastReportedAt: null,
    });
    expect(byKey(apps, MAILER)).toMatchObject({ state: 'not-applicable' });

    const old = new Date(Date.now() - 16 * 86_400_000).toISOString();
    await t.ctx.database.db
      .updateTable('holdings')
      .set({ reported_at: old })
      .where('app_key', '=', TIMESHEETS)
      .where('account_id', '=', ADA)
      .execute();
    apps = await list();
    expect(byKey(apps, TIMESHEETS)).toMatchObject({ state: 'overdue', heldAccounts: 2, overdueAccounts: 1 });
  });

  it('requires the admin scope', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/admin/compliance/apps',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.statusCode).toBe(401);
  });
});

describe('webhook URLs', () => {
  it('refuses a private target at import unless the operator allows it', async () => {
    const strict = await createTestApp();
    try {
      const file = exampleDirectory();
      for (const app of file.apps ?? []) app.webhook = { url: 'http://127.0.0.1:9/hooks' };
      await expect(importExample(strict, file)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    } finally {
      await strict.close();
    }
  });
});
