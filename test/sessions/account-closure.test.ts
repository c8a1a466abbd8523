import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { consoleDirectory, grantConsoleRoles, OPERATOR_IDS } from '../helpers/console.js';
import { ACTIVE_ID, ADA, importExample, OPERATOR } from '../helpers/directory.js';
import { WebClient } from '../helpers/web.js';

type Response = Awaited<ReturnType<WebClient['get']>>;

/** A page asked for without a live session sends the browser to sign in, and shows nothing. */
function expectSignInAsked(res: Response) {
  expect(res.statusCode).toBe(303);
  expect(res.headers.location).toMatch(/^\/login\?next=/);
}

/**
 * A session must not outlive its account: closing an account (an operator's included) signs
 * the person out everywhere in the closure's own transaction, and sign-in refuses it after.
 */
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
  await importExample(t, consoleDirectory());
  await grantConsoleRoles(t);
});
afterAll(() => t.close());

describe('closing an account', () => {
  it("ends the person's sessions on every device: the privacy centre asks them to sign in", async () => {
    const laptop = new WebClient(t);
    const phone = new WebClient(t);
    await laptop.signIn(ADA);
    await phone.signIn(ADA);
    expect((await laptop.get('/privacy')).statusCode).toBe(200);
    expect(await t.ctx.sessions.list(ADA)).toHaveLength(2);

    await t.ctx.directory.closeAccount(ADA, OPERATOR);

    for (const device of [laptop, phone]) {
      expectSignInAsked(await device.get('/privacy'));
    }
    expect(await t.ctx.sessions.list(ADA)).toEqual([]);
  });

  it("ends a closed operator's console access at once, whatever roles they held", async () => {
    const officer = new WebClient(t);
    await officer.signIn(OPERATOR_IDS['privacy-officer']);
    expect((await officer.get('/console')).statusCode).toBe(200);
    expect((await officer.get(`/console/accounts/${ACTIVE_ID}`)).statusCode).toBe(200);

    await t.ctx.directory.closeAccount(OPERATOR_IDS['privacy-officer'], OPERATOR);

    expectSignInAsked(await officer.get('/console'));
    expectSignInAsked(await officer.get(`/console/accounts/${ACTIVE_ID}`));
  });

  it('leaves the sessions of other people alone', async () => {
    const owner = new WebClient(t);
    await owner.signIn(OPERATOR_IDS.owner);
    const other = new WebClient(t);
    await other.signIn(OPERATOR_IDS.auditor);
    await t.ctx.directory.closeAccount(OPERATOR_IDS.auditor, OPERATOR);
    expect((await owner.get('/console')).statusCode).toBe(200);
    expectSignInAsked(await other.get('/console'));
  });
});
