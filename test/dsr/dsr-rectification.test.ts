import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DsrView } from '../../src/dsr/dsr.service.js';
import { consentClient, createTestApp, GMOI_TEXT, type TestApp, waitForApplied } from '../helpers/app.js';
import { ACTIVE_ID, ADA, adminClient, CLOSED_ID, GINA, importExample } from '../helpers/directory.js';
import { until } from '../helpers/wait.js';
import { WebClient } from '../helpers/web.js';

/** Correcting a person's email address (GDPR art. 16) in one form, without taking another's, and with their objection. */

const PERSON = (accountId: string) => ({ type: 'account' as const, id: accountId });
let t: TestApp;
let admin: string;

const adminPost = (url: string, payload?: object) =>
  t.app.inject({ method: 'POST', url, headers: { authorization: admin }, ...(payload ? { payload } : {}) });

/** A rectification of the account, verified and waiting for the operator's corrections. */
async function openRectification(accountId: string): Promise<string> {
  const filed = await adminPost('/admin/dsr/requests', {
    accountId,
    type: 'rectification',
    details: 'My address changed',
  });
  expect(filed.statusCode, filed.body).toBe(201);
  const { id } = filed.json() as DsrView;
  expect((await adminPost(`/admin/dsr/requests/${id}/verify`)).statusCode).toBe(200);
  return id;
}

beforeAll(async () => {
  t = await createTestApp({ CUSTOS_WORKER_POLL_MS: '10' });
  await importExample(t);
  admin = await adminClient(t);
});

afterAll(async () => {
  await t?.close();
});

describe('an email correction', () => {
  it('stores the address normalized, so that it is found by it', async () => {
    const id = await openRectification(GINA);
    const done = await adminPost(`/admin/dsr/requests/${id}/complete`, {
      changes: { email: 'Gina.New@Globex.TEST' },
    });
    expect(done.statusCode, done.body).toBe(200);
    expect((await t.ctx.directory.getAccount(GINA)).profile.email).toBe('gina.new@globex.test');
    expect(await t.ctx.directory.findOpenAccountIdByEmail('gina.new@globex.test')).toBe(GINA);
  });

  it("answers 409 naming changes.email for another account's address, and changes nothing", async () => {
    const id = await openRectification(ADA);
    const taken = await adminPost(`/admin/dsr/requests/${id}/complete`, {
      changes: { email: 'Grace@ACME.test', name: 'Ada King' },
    });
    expect(taken.statusCode, taken.body).toBe(409);
    expect(taken.json()).toMatchObject({ errorType: 'CONFLICT', field: 'changes.email' });
    expect((await t.ctx.directory.getAccount(ADA)).profile).toMatchObject({
      email: 'ada@acme.test',
      name: 'Ada Lovelace',
    });
    expect((await t.ctx.dsr.get(id)).state).toBe('in-progress');

    // The console's form answers the same, as a page.
    await t.ctx.operators.grant(CLOSED_ID, 'privacy-officer', { type: 'operator', id: 'test' });
    const officer = new WebClient(t);
    await officer.signIn(CLOSED_ID);
    expect((await officer.get(`/console/requests/${id}`)).statusCode).toBe(200);
    const posted = await officer.post(`/console/requests/${id}/complete`, {
      email: 'grace@acme.test',
      name: '',
    });
    expect(posted.statusCode, posted.body).toBe(409);
    expect(posted.body).toContain('another account uses this email address');
    expect((await t.ctx.directory.getAccount(ADA)).profile.email).toBe('ada@acme.test');

    // Its own address, in another case, is no conflict and no change.
    const same = await adminPost(`/admin/dsr/requests/${id}/complete`, {
      changes: { email: 'ADA@acme.test' },
    });
    expect(same.statusCode, same.body).toBe(200);
    expect(same.json().outcomeReason).toBe('no change needed');
  });

  it("carries the person's objection to direct marketing to the new address, and keeps the old one suppressed", async () => {
    const client = await consentClient(t, 'crm@example.com');
    const ask = async (email: string) => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/consent-hub/consent-config/get',
        headers: { authorization: client.authorization },
        payload: { email },
      });
      expect(res.statusCode).toBe(200);
      return res.json().usersChoiceOnMarketingCommunicationOptIn;
    };
    const grant = async (email: string) => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/consent-hub/consent',
        headers: { authorization: client.authorization },
        payload: {
          email,
          locale: 'US',
          consents: [{ key: 'generalMarketingOptIn', granted: true, displayedText: GMOI_TEXT }],
        },
      });
      expect(res.statusCode).toBe(202);
      await waitForApplied(t);
    };

    const objection = await t.ctx.dsr.file(
      { accountId: ACTIVE_ID, type: 'objection', via: 'privacy-centre', signedIn: true },
      PERSON(ACTIVE_ID),
    );
    await until(async () => (await t.ctx.dsr.get(objection.id)).state === 'completed', {
      message: 'the objection',
    });

    const id = await openRectification(ACTIVE_ID);
    const done = await adminPost(`/admin/dsr/requests/${id}/complete`, {
      changes: { email: 'Grace.New@acme.test' },
    });
    expect(done.statusCode, done.body).toBe(200);
    await grant('grace.new@acme.test');
    await grant('grace@acme.test');
    expect(await ask('grace.new@acme.test')).toBe(false);
    expect(await ask('grace@acme.test')).toBe(false);
    expect(await t.ctx.dsr.standing(ACTIVE_ID)).toMatchObject({ objection: true });

    // Lifting the objection lifts it for both.
    await t.ctx.dsr.liftObjection(ACTIVE_ID, PERSON(ACTIVE_ID));
    expect(await ask('grace.new@acme.test')).toBe(true);
    expect(await ask('grace@acme.test')).toBe(true);
  });
});
