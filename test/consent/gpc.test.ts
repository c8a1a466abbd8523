import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consentClient, createTestApp, GMOI_TEXT, type TestApp, waitForApplied } from '../helpers/app.js';
import { ACTIVE_ID, ADA, GINA, importExample } from '../helpers/directory.js';
import { WebClient } from '../helpers/web.js';

let t: TestApp;
let auth: string;

const GPC = { 'sec-gpc': '1' };

async function preferenceMessages(accountId: string) {
  const rows = await t.ctx.database.db
    .selectFrom('webhook_messages')
    .select(['app_key', 'event_type', 'payload'])
    .where('event_type', '=', 'account.preferences-changed')
    // In the order written: PostgreSQL returns rows in no set order once deliveries update them.
    .orderBy('seq')
    .execute();
  return rows.filter((r) => JSON.parse(r.payload).data.accountId === accountId);
}

/** The person's receipts of a GPC signal, as the privacy centre reads them. */
async function gpcReceipts(accountId: string) {
  const receipts = await t.ctx.receipts.listReceiptsOf(accountId, undefined);
  return receipts.filter((r) => r.method === 'gpc');
}

async function marketingChoice(email: string) {
  const res = await t.app.inject({
    method: 'POST',
    url: '/consent-hub/consent-config/get',
    headers: { authorization: auth },
    payload: { email },
  });
  expect(res.statusCode).toBe(200);
  return res.json().usersChoiceOnMarketingCommunicationOptIn as boolean;
}

beforeAll(async () => {
  t = await createTestApp();
  auth = (await consentClient(t)).authorization;
  await importExample(t);
});
afterAll(() => t?.close());

describe('Global Privacy Control', () => {
  it('serves /.well-known/gpc.json', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/.well-known/gpc.json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('application/json');
    const body = res.json();
    expect(body.gpc).toBe(true);
    expect(body.lastUpdate).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  it('records "do not sell or share" once, beside email consent, with a receipt and a webhook', async () => {
    const granted = await t.app.inject({
      method: 'POST',
      url: '/consent-hub/consent',
      headers: { authorization: auth },
      payload: {
        consents: [{ key: 'generalMarketingOptIn', granted: true, displayedText: GMOI_TEXT }],
        email: 'ada@acme.test',
        locale: 'US',
      },
    });
    expect(granted.statusCode).toBe(202);
    await waitForApplied(t);
    expect(await marketingChoice('ada@acme.test')).toBe(true);

    const ada = new WebClient(t);
    await ada.signIn(ADA);
    const first = await ada.get('/privacy/receipts', GPC);
    expect(first.statusCode).toBe(200);
    expect(first.body).toContain('Do not sell or share:</strong> on');
    expect(first.body).toContain('Global Privacy Control');

    expect(await t.ctx.preferences.listPreferencesOf(ADA)).toEqual([
      expect.objectContaining({ preference: 'do-not-sell-or-share', value: true, method: 'gpc' }),
    ]);
    // Its own preference: the email consent stands.
    expect(await marketingChoice('ada@acme.test')).toBe(true);

    const [receipt] = await gpcReceipts(ADA);
    expect(receipt).toBeTruthy();
    const jwks = createLocalJWKSet(await t.ctx.receipts.jwks());
    const { payload } = await jwtVerify(receipt?.jws ?? '', jwks);
    expect(payload).toMatchObject({
      collectionMethod: 'gpc',
      piiPrincipalId: ADA,
      status: 'opted-out',
      preferences: { doNotSellOrShare: true },
      services: [{ service: 'do-not-sell-or-share' }],
    });

    const messages = await preferenceMessages(ADA);
    expect(messages.map((m) => m.app_key)).toEqual(['com.vendor.timesheets']);
    expect(JSON.parse(messages[0]?.payload ?? '{}')).toMatchObject({
      type: 'account.preferences-changed',
      data: { accountId: ADA, siteIds: ['acme-prod'], preferences: { doNotSellOrShare: true } },
    });
    expect(messages[0]?.payload).not.toContain('ada@acme.test');

    // The browser sends the signal with every request: nothing more is recorded.
    expect((await ada.get('/privacy/receipts', GPC)).statusCode).toBe(200);
    expect((await ada.get('/privacy/receipts', GPC)).statusCode).toBe(200);
    expect(await gpcReceipts(ADA)).toHaveLength(1);
    expect(await preferenceMessages(ADA)).toHaveLength(1);

    const audit = await t.ctx.database.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', 'preference.changed')
      .execute();
    expect(audit).toHaveLength(1);
    expect(JSON.stringify(audit)).not.toContain('ada@acme.test');
  });

  it('records nothing without the header, for another value, or off the privacy centre', async () => {
    const grace = new WebClient(t);
    await grace.signIn(ACTIVE_ID);
    expect((await grace.get('/privacy/receipts')).statusCode).toBe(200);
    expect((await grace.get('/privacy/receipts', { 'sec-gpc': '0' })).statusCode).toBe(200);
    expect((await grace.get('/assets/custos.css', GPC)).statusCode).toBe(200);
    expect(await t.ctx.preferences.listPreferencesOf(ACTIVE_ID)).toEqual([]);
    const page = await grace.get('/privacy/receipts');
    expect(page.body).toContain('No preference recorded');
  });

  it('records nothing for someone not signed in', async () => {
    const res = await new WebClient(t).get('/privacy/receipts', GPC);
    expect(res.statusCode).toBe(303);
    expect(await t.ctx.database.db.selectFrom('account_preferences').selectAll().execute()).toHaveLength(1);
  });

  it('tells the apps that see each person, for each person apart', async () => {
    const gina = new WebClient(t);
    await gina.signIn(GINA);
    expect((await gina.get('/privacy/receipts', GPC)).statusCode).toBe(200);
    expect(await t.ctx.preferences.listPreferencesOf(GINA)).toHaveLength(1);
    // Timesheets is installed on globex-prod, where Gina is a member; Ada's message stays one.
    expect((await preferenceMessages(GINA)).map((m) => m.app_key)).toEqual(['com.vendor.timesheets']);
    expect(JSON.parse((await preferenceMessages(GINA))[0]?.payload ?? '{}').data.siteIds).toEqual([
      'globex-prod',
    ]);
    expect(await preferenceMessages(ADA)).toHaveLength(1);
  });
});

describe('the person turns "do not sell or share" off and on again', () => {
  const FORM = '/privacy/preferences/do-not-sell-or-share';

  async function receiptsOf(accountId: string, method: string) {
    const jwks = createLocalJWKSet(await t.ctx.receipts.jwks());
    const receipts = (await t.ctx.receipts.listReceiptsOf(accountId, undefined)).filter(
      (r) => r.method === method,
    );
    return Promise.all(receipts.map(async (r) => (await jwtVerify(r.jws, jwks)).payload));
  }

  async function preferenceAudit() {
    return t.ctx.database.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', 'preference.changed')
      .where('actor_id', '=', ADA)
      .execute();
  }

  it('turns it off from a browser that still sends the signal: a signed receipt, an audit entry, a webhook', async () => {
    const ada = new WebClient(t);
    await ada.signIn(ADA);
    const page = await ada.get('/privacy/receipts', GPC);
    expect(page.body).toContain('Do not sell or share:</strong> on');
    expect(page.body).toMatch(/<form method="post" action="\/privacy\/preferences\/do-not-sell-or-share">/);
    expect(page.body).toContain('name="choice" value="off"');
    const messagesBefore = (await preferenceMessages(ADA)).length;
    const auditBefore = (await preferenceAudit()).length;

    const off = await ada.post(FORM, { choice: 'off' }, GPC);
    expect(off.statusCode).toBe(303);
    expect(off.headers.location).toBe('/privacy/receipts?done=do-not-sell-off');

    // The signal the browser keeps sending does not turn the person's own choice back on.
    const after = await ada.get('/privacy/receipts?done=do-not-sell-off', GPC);
    expect(after.statusCode).toBe(200);
    expect(after.body).toContain('role="status"');
    expect(after.body).toContain('Do not sell or share:</strong> off');
    expect(after.body).toContain('Your browser is sending Global Privacy Control');
    expect(after.body).toContain('name="choice" value="on"');
    expect((await ada.get('/privacy', GPC)).statusCode).toBe(200);
    expect(await t.ctx.preferences.listPreferencesOf(ADA)).toEqual([
      expect.objectContaining({ value: false, method: 'privacy-centre' }),
    ]);

    const [receipt, ...more] = await receiptsOf(ADA, 'privacy-centre');
    expect(more).toHaveLength(0);
    expect(receipt).toMatchObject({
      piiPrincipalId: ADA,
      collectionMethod: 'privacy-centre',
      status: 'withdrawn',
      preferences: { doNotSellOrShare: false },
      services: [{ service: 'do-not-sell-or-share' }],
    });
    const messages = await preferenceMessages(ADA);
    expect(messages).toHaveLength(messagesBefore + 1);
    expect(JSON.parse(messages.at(-1)?.payload ?? '{}').data).toMatchObject({
      accountId: ADA,
      preferences: { doNotSellOrShare: false },
    });
    const audit = await preferenceAudit();
    expect(audit).toHaveLength(auditBefore + 1);
    expect(JSON.parse(audit.at(-1)?.details ?? '{}')).toMatchObject({
      value: false,
      method: 'privacy-centre',
    });

    // The same choice again records nothing.
    await ada.get('/privacy/receipts');
    const again = await ada.post(FORM, { choice: 'off' });
    expect(again.headers.location).toBe('/privacy/receipts?done=unchanged');
    expect(await receiptsOf(ADA, 'privacy-centre')).toHaveLength(1);
    expect(await preferenceMessages(ADA)).toHaveLength(messagesBefore + 1);
  });

  it('turns it on again from the page, without the signal', async () => {
    const ada = new WebClient(t);
    await ada.signIn(ADA);
    await ada.get('/privacy/receipts');
    const on = await ada.post(FORM, { choice: 'on' });
    expect(on.headers.location).toBe('/privacy/receipts?done=do-not-sell-on');
    expect(await t.ctx.preferences.listPreferencesOf(ADA)).toEqual([
      expect.objectContaining({ value: true, method: 'privacy-centre' }),
    ]);
    const receipts = await receiptsOf(ADA, 'privacy-centre');
    expect(receipts.map((r) => r.status).sort()).toEqual(['opted-out', 'withdrawn']);
    expect(JSON.parse((await preferenceMessages(ADA)).at(-1)?.payload ?? '{}').data.preferences).toEqual({
      doNotSellOrShare: true,
    });
  });

  it('refuses a form without its CSRF token, or with a choice that is not on or off, changing nothing', async () => {
    const ada = new WebClient(t);
    await ada.signIn(ADA);
    await ada.get('/privacy/receipts');
    const before = await t.ctx.preferences.listPreferencesOf(ADA);
    expect((await ada.post(FORM, { choice: 'off', _csrf: null })).statusCode).toBe(403);
    const bad = await ada.post(FORM, { choice: 'maybe' });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('choice');
    expect((await ada.post(FORM, { choice: 'off', extra: 'x' })).statusCode).toBe(400);
    expect(await t.ctx.preferences.listPreferencesOf(ADA)).toEqual(before);
    expect((await new WebClient(t).post(FORM, { choice: 'off' })).statusCode).not.toBe(303);
  });
});
