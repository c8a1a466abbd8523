import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DsrView } from '../../src/dsr/dsr.service.js';
import { consentClient, createTestApp, GMOI_TEXT, type TestApp, waitForApplied } from '../helpers/app.js';
import {
  ACTIVE_ID,
  ADA,
  adminClient,
  exampleDirectory,
  GINA,
  importExample,
  oauthToken,
  SECRETS,
} from '../helpers/directory.js';
import { accounts, now, reportWithBearer, timesheetsToken } from '../helpers/reporting.js';
import { until } from '../helpers/wait.js';
import { startReceiver } from '../helpers/webhook-receiver.js';

const SECRET = `whsec_${Buffer.from('dsr-webhook-secret-of-32-bytes!!').toString('base64')}`;
const TIMESHEETS = 'com.vendor.timesheets';
const MAILER = 'com.vendor.mailer';
const PERSON = (accountId: string) => ({ type: 'account' as const, id: accountId });

let t: TestApp;
let admin: string;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

type Event = { id: string; type: string; timestamp: string; data: Record<string, unknown> };

/** Verified deliveries of `type` for the account, with the app each went to. */
async function received(type: string, accountId: string) {
  const out: { app: string; event: Event }[] = [];
  for (const r of receiver.unique.values()) {
    const event = r.body as Event;
    if (event.type !== type || event.data.accountId !== accountId) continue;
    const row = await t.ctx.database.db
      .selectFrom('webhook_messages')
      .select('app_key')
      .where('id', '=', r.id)
      .executeTakeFirstOrThrow();
    out.push({ app: row.app_key, event });
  }
  return out.sort((a, b) => a.app.localeCompare(b.app));
}

async function stateOf(id: string, wanted: DsrView['state']) {
  await until(async () => (await t.ctx.dsr.get(id)).state === wanted, {
    timeoutMs: 10_000,
    message: `request ${id} to be ${wanted}`,
  });
  return t.ctx.dsr.show(id);
}

const adminPost = (url: string, payload?: object) =>
  t.app.inject({ method: 'POST', url, headers: { authorization: admin }, ...(payload ? { payload } : {}) });

beforeAll(async () => {
  receiver = await startReceiver(SECRET);
  t = await createTestApp({ CUSTOS_ALLOW_PRIVATE_WEBHOOKS: 'true', CUSTOS_WORKER_POLL_MS: '10' });
  const file = exampleDirectory();
  for (const app of file.apps ?? [])
    if (app.key !== 'com.vendor.reporter') app.webhook = { url: receiver.url, secret: SECRET };
  await importExample(t, file);
  admin = await adminClient(t);
  // Timesheets holds Ada, Grace and Gina; Mailer sees Ada and Grace through its installation.
  const token = await timesheetsToken(t);
  const report = await reportWithBearer(t, token, accounts([ADA, now()], [ACTIVE_ID, now()], [GINA, now()]));
  expect(report.statusCode).toBeLessThan(300);
});

afterAll(async () => {
  await t?.close();
  await receiver?.close();
});

describe('access', () => {
  it('asks holding apps, takes an uploaded part, and exports it naming the app that did not answer', async () => {
    const filed = await t.ctx.dsr.file(
      { accountId: ADA, type: 'access', via: 'privacy-centre', signedIn: true },
      PERSON(ADA),
    );
    expect(filed).toMatchObject({ regime: 'gdpr', needsVerification: false });
    expect(filed.dueOn).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    const waiting = await stateOf(filed.id, 'awaiting-apps');
    expect(waiting.apps.map((a) => a.appKey)).toEqual([MAILER, TIMESHEETS]);

    await until(async () => (await received('dsr.access-requested', ADA)).length === 2, {
      message: 'both apps to receive dsr.access-requested',
    });
    const asked = await received('dsr.access-requested', ADA);
    expect(asked[0]?.event.data).toMatchObject({ requestId: filed.id, deadline: expect.any(String) });
    expect([...receiver.unique.values()].every((r) => r.verified)).toBe(true);

    const bearer = await oauthToken(t, 'timesheets', SECRETS.timesheetsClient, 'report:personal-data');
    const upload = await t.app.inject({
      method: 'POST',
      url: `/app/dsr/requests/${filed.id}/part`,
      headers: { authorization: `Bearer ${bearer}` },
      payload: { data: { timesheets: [{ week: '2026-W48', hours: 38 }] } },
    });
    expect(upload.statusCode, upload.body).toBe(200);

    // An app not told of a request cannot upload to it.
    const other = await t.ctx.dsr.file(
      { accountId: GINA, type: 'objection', via: 'privacy-centre', signedIn: true },
      PERSON(GINA),
    );
    const stray = await t.app.inject({
      method: 'POST',
      url: `/app/dsr/requests/${other.id}/part`,
      headers: { authorization: `Bearer ${bearer}` },
      payload: { data: {} },
    });
    expect(stray.statusCode).toBe(404);

    const expedite = await adminPost(`/admin/dsr/requests/${filed.id}/expedite`, {
      reason: 'Mailer stores nothing',
    });
    expect(expedite.statusCode, expedite.body).toBe(200);
    const done = await stateOf(filed.id, 'completed');
    expect(done.exportAvailable).toBe(true);
    expect(done.apps.find((a) => a.appKey === TIMESHEETS)?.answeredAt).toEqual(expect.any(String));

    const link = t.ctx.dsr.exportLink(filed.id, ADA);
    const url = new URL(link.path, 'http://x');
    const document = await t.ctx.dsr.readExport(
      filed.id,
      ADA,
      Number(url.searchParams.get('exp')),
      url.searchParams.get('sig') as string,
    );
    expect(document).toMatchObject({
      accountId: ADA,
      profile: { email: 'ada@acme.test' },
      appParts: [{ appKey: TIMESHEETS, data: { timesheets: [{ week: '2026-W48', hours: 38 }] } }],
      appsNotAnswered: [MAILER],
    });
    await expect(
      t.ctx.dsr.readExport(filed.id, ADA, Number(url.searchParams.get('exp')), 'forged'),
    ).rejects.toThrow(/expired/);
  });
});

describe('objection to direct marketing', () => {
  it('makes consent-config/get answer false, even after a later grant through the API, until the person lifts it', async () => {
    const client = await consentClient(t, 'crm@example.com');
    const ask = async () =>
      (
        await t.app.inject({
          method: 'POST',
          url: '/consent-hub/consent-config/get',
          headers: { authorization: client.authorization },
          payload: { email: 'grace@acme.test' },
        })
      ).json();
    const grant = async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/consent-hub/consent',
        headers: { authorization: client.authorization },
        payload: {
          email: 'grace@acme.test',
          locale: 'US',
          consents: [{ key: 'generalMarketingOptIn', granted: true, displayedText: GMOI_TEXT }],
        },
      });
      expect(res.statusCode).toBe(202);
      await waitForApplied(t);
    };
    await grant();
    expect((await ask()).usersChoiceOnMarketingCommunicationOptIn).toBe(true);

    const filed = await t.ctx.dsr.file(
      { accountId: ACTIVE_ID, type: 'objection', via: 'privacy-centre', signedIn: true },
      PERSON(ACTIVE_ID),
    );
    await stateOf(filed.id, 'completed');
    expect(await ask()).toMatchObject({
      hasUserMadeChoiceOnMarketingCommunicationOptIn: true,
      usersChoiceOnMarketingCommunicationOptIn: false,
    });
    // The person can show they objected: a signed receipt of it, beside those of their consents.
    const receipts = await t.ctx.receipts.listReceiptsOf(ACTIVE_ID, 'grace@acme.test');
    const objected = receipts.filter((r) => r.method === 'objection');
    expect(objected).toHaveLength(1);
    const [, claims] = (objected[0]?.jws ?? '').split('.');
    expect(JSON.parse(Buffer.from(claims ?? '', 'base64url').toString())).toMatchObject({ sub: ACTIVE_ID });
    await grant();
    expect((await ask()).usersChoiceOnMarketingCommunicationOptIn).toBe(false);

    await expect(t.ctx.dsr.liftObjection(ACTIVE_ID, { type: 'operator', id: 'someone' })).rejects.toThrow(
      /Only the person/,
    );
    await t.ctx.dsr.liftObjection(ACTIVE_ID, PERSON(ACTIVE_ID));
    expect((await ask()).usersChoiceOnMarketingCommunicationOptIn).toBe(true);
  });
});

describe('restriction', () => {
  it('refuses the account on the Email API, tells apps, and records the lifting', async () => {
    const filed = await t.ctx.dsr.file(
      { accountId: ACTIVE_ID, type: 'restriction', via: 'privacy-centre', signedIn: true },
      PERSON(ACTIVE_ID),
    );
    const done = await stateOf(filed.id, 'completed');
    expect(done.apps.map((a) => a.appKey)).toEqual([MAILER, TIMESHEETS]);
    expect(await t.ctx.dsr.listRestricted([ACTIVE_ID, ADA])).toEqual(new Set([ACTIVE_ID]));
    await until(async () => (await received('account.restricted', ACTIVE_ID)).length === 2, {
      message: 'account.restricted at both apps',
    });
    await t.ctx.dsr.liftRestriction(ACTIVE_ID, 'the person asked', PERSON(ACTIVE_ID));
    expect(await t.ctx.dsr.listRestricted([ACTIVE_ID])).toEqual(new Set());
    await until(async () => (await received('account.unrestricted', ACTIVE_ID)).length === 2, {
      message: 'account.unrestricted at both apps',
    });
    const shown = await t.ctx.dsr.show(filed.id);
    expect(shown.timeline.map((e) => e.action)).toContain('restriction-lifted');
  });
});

describe('filing for someone else, verification, extension and denial', () => {
  it('waits for identity, starts the GDPR clock at verification, extends with a reason, and refuses a second extension beyond two months', async () => {
    const res = await adminPost('/admin/dsr/requests', {
      accountId: GINA,
      type: 'rectification',
      details: 'My name is Gina Rossi',
    });
    expect(res.statusCode, res.body).toBe(201);
    const filed = res.json();
    expect(filed).toMatchObject({ state: 'awaiting-verification', dueOn: null, owner: 'operator' });
    const verified = await adminPost(`/admin/dsr/requests/${filed.id}/verify`);
    expect(verified.json()).toMatchObject({ state: 'in-progress', dueOn: expect.any(String) });
    const extended = await adminPost(`/admin/dsr/requests/${filed.id}/extend`, {
      amount: 2,
      reason: 'Several systems to check',
    });
    expect(extended.statusCode, extended.body).toBe(200);
    expect(extended.json()).toMatchObject({ extension: 2, extensionReason: 'Several systems to check' });
    const again = await adminPost(`/admin/dsr/requests/${filed.id}/extend`, { amount: 1, reason: 'More' });
    expect(again.statusCode).toBe(409);
    expect(again.json().errorMessage).toContain('at most 2');
    const complete = await adminPost(`/admin/dsr/requests/${filed.id}/complete`, {
      changes: { name: 'Gina Rossi' },
    });
    expect(complete.statusCode, complete.body).toBe(200);
    expect((await t.ctx.directory.getAccount(GINA)).profile.name).toBe('Gina Rossi');
    await until(async () => (await received('account.updated', GINA)).length === 1, {
      message: 'account.updated at Timesheets',
    });
  });

  it('answers 400 naming the field, 404 for an unknown request, 409 for a denied one', async () => {
    const bad = await adminPost('/admin/dsr/requests', { accountId: ADA, type: 'forget-me' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().field).toBe('type');
    const missing = await adminPost(`/admin/dsr/requests/dsr_${'0'.repeat(32)}/verify`);
    expect(missing.statusCode).toBe(404);
    const filed = (await adminPost('/admin/dsr/requests', { accountId: ADA, type: 'restriction' })).json();
    const denied = await adminPost(`/admin/dsr/requests/${filed.id}/deny`, { reason: 'Identity not shown' });
    expect(denied.json()).toMatchObject({ state: 'denied', outcomeReason: 'Identity not shown' });
    expect((await adminPost(`/admin/dsr/requests/${filed.id}/verify`)).statusCode).toBe(409);
  });
});

describe('the attention list', () => {
  it('shows an overdue request after the watch runs', async () => {
    const filed = (
      await adminPost('/admin/dsr/requests', {
        accountId: ADA,
        type: 'rectification',
        details: 'Wrong title',
      })
    ).json();
    await adminPost(`/admin/dsr/requests/${filed.id}/verify`);
    await t.ctx.database.db
      .updateTable('dsr_requests')
      .set({ due_on: '2020-01-02' })
      .where('id', '=', filed.id)
      .execute();
    const watched = await t.ctx.dsr.watch();
    expect(watched.flagged).toBeGreaterThanOrEqual(1);
    const res = await t.app.inject({
      method: 'GET',
      url: '/admin/dsr/attention',
      headers: { authorization: admin },
    });
    const entry = res.json().values.find((v: DsrView) => v.id === filed.id);
    expect(entry?.attentionReason).toContain('overdue');
  });
});
