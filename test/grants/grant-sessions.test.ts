import * as client from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { launchBrowser, type ServedApp, serveTestApp, signInBrowser } from '../helpers/browser.js';
import { ACTIVE_ID, ADA, exampleDirectory, importExample, SECRETS } from '../helpers/directory.js';
import { WebClient } from '../helpers/web.js';

/**
 * The authorization server's session on a browser never outlives, and never stands in for,
 * the person's Custos session there (docs/app-grants.md#signing-out): a real relying party
 * (openid-client) against Custos over real HTTP, on one Chromium profile that several
 * people use in turn, as on a shared computer.
 */
const REDIRECT = 'https://timesheets.vendor.test/oauth/callback';
const APP_ORIGIN = new URL(REDIRECT).origin;
const SCOPE = 'read:me read:account';
const PROVIDER_SESSION_COOKIE = 'custos-oauth-session';

let t: ServedApp;
let browser: Browser;
/** The shared computer: one browser profile, one cookie jar. */
let shared: BrowserContext;
let timesheets: client.Configuration;

function directory() {
  const file = exampleDirectory();
  for (const app of file.apps ?? []) {
    if (app.key === 'com.vendor.timesheets' && app.oauth) app.oauth.redirectUris = [REDIRECT];
  }
  return file;
}

interface Visit {
  page: Page;
  /** Where the app was sent back to, if it was. */
  callback: URL | undefined;
  verifier: string;
  state: string;
}

/** Sends the shared browser to /authorize as the app would, and stops where it lands. */
async function authorize(prompt?: 'consent'): Promise<Visit> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(timesheets, {
    redirect_uri: REDIRECT,
    scope: SCOPE,
    state,
    response_type: 'code',
    ...(prompt ? { prompt } : {}),
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  const page = await shared.newPage();
  const visit: Visit = { page, callback: undefined, verifier, state };
  // Every request to the app, a redirect's target included (routing sees only the first of a chain).
  page.on('request', (request) => {
    if (request.url().startsWith(`${APP_ORIGIN}/`)) visit.callback = new URL(request.url());
  });
  await page.route(`${APP_ORIGIN}/**`, (route) =>
    route.fulfill({
      status: 200,
      contentType: 'text/html',
      body: '<!doctype html><title>App</title><p>Back in the app</p>',
    }),
  );
  // A navigation redirected straight to the app's made-up host may fail to load there: the
  // request to it is what counts.
  await page.goto(url.href).catch((error: unknown) => {
    if (!visit.callback) throw error;
  });
  return visit;
}

/** Answers the consent page the visit is on, and returns where the app was sent back to. */
async function allow(visit: Visit): Promise<URL> {
  await visit.page.getByRole('button', { name: 'Allow access' }).click();
  await visit.page.waitForURL((u) => u.origin === APP_ORIGIN).catch(() => undefined);
  if (!visit.callback) throw new Error('the app was not called back');
  return visit.callback;
}

/** The app redeems the code it was sent back with; returns whose account the token speaks for. */
async function redeem(visit: Visit, callback: URL): Promise<string> {
  const tokens = await client.authorizationCodeGrant(timesheets, callback, {
    pkceCodeVerifier: visit.verifier,
    expectedState: visit.state,
  });
  const res = await fetch(`${t.baseUrl}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { account_id: string }).account_id;
}

/** The authorization server's sessions stored for the account. */
async function providerSessions(accountId: string) {
  return t.ctx.database.db
    .selectFrom('oauth_records')
    .select('id')
    .where('model', '=', 'Session')
    .where('account_id', '=', accountId)
    .execute();
}

const providerCookie = async () =>
  (await shared.cookies()).find((cookie) => cookie.name === PROVIDER_SESSION_COOKIE);

beforeAll(async () => {
  t = await serveTestApp();
  await importExample(t, directory());
  browser = await launchBrowser();
  shared = await browser.newContext({ baseURL: t.baseUrl });
  shared.setDefaultTimeout(120_000);
  timesheets = await client.discovery(new URL(t.baseUrl), 'timesheets', SECRETS.timesheetsClient, undefined, {
    execute: [client.allowInsecureRequests],
  });
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe('the authorization server session follows the Custos session, in Chromium', {
  timeout: 240_000,
}, () => {
  it('sends a signed-in person who granted the app back with a code, on a cookie that ends with the browser', async () => {
    await signInBrowser(shared, t, ADA);
    const first = await authorize('consent');
    expect(await redeem(first, await allow(first))).toBe(ADA);
    await first.page.close();

    // Granted and signed in: no page to answer.
    const again = await authorize();
    expect(again.callback?.searchParams.get('code')).toBeTruthy();
    expect(await redeem(again, again.callback as URL)).toBe(ADA);
    await again.page.close();

    const cookie = await providerCookie();
    expect(cookie).toBeDefined();
    // A session cookie (no Expires): it does not survive closing the browser.
    expect(cookie?.expires).toBe(-1);
    expect(cookie?.httpOnly).toBe(true);
  });

  it('after "Sign out", authorize without prompt issues no code and asks to sign in', async () => {
    const page = await shared.newPage();
    await page.goto('/privacy');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((u) => u.pathname === '/login');
    await page.close();
    // Sign-out ended the authorization server's session too, and cleared its cookie.
    expect(await providerCookie()).toBeUndefined();
    expect(await providerSessions(ADA)).toEqual([]);

    const visit = await authorize();
    expect(visit.callback).toBeUndefined();
    const landed = new URL(visit.page.url());
    expect(landed.pathname).toBe('/login');
    expect(landed.searchParams.get('next')).toMatch(/^\/oauth\/interaction\//);
    await visit.page.close();
  });

  it('a Custos session ended on the server (a timeout, "sign out everywhere" elsewhere) ends the code too', async () => {
    await signInBrowser(shared, t, ADA);
    const granted = await authorize('consent');
    expect(await redeem(granted, await allow(granted))).toBe(ADA);
    await granted.page.close();
    expect(await providerCookie()).toBeDefined();

    // The browser keeps both cookies; the Custos session behind one of them is over.
    await t.ctx.sessions.endAll(ADA);
    const visit = await authorize();
    expect(visit.callback).toBeUndefined();
    expect(new URL(visit.page.url()).pathname).toBe('/login');
    await visit.page.close();
    expect(await providerSessions(ADA)).toEqual([]);
  });

  it("a second person on the same browser gets their own account, never the first one's", async () => {
    await signInBrowser(shared, t, ADA);
    const ada = await authorize('consent');
    expect(await redeem(ada, await allow(ada))).toBe(ADA);
    await ada.page.close();

    // Someone else signs in on the same browser, over Ada's session.
    await signInBrowser(shared, t, ACTIVE_ID);
    const visit = await authorize();
    // They never granted the app: their own consent page, not a code for Ada.
    expect(visit.callback).toBeUndefined();
    await expect(visit.page.getByRole('heading', { level: 1 }).textContent()).resolves.toContain(
      'Timesheets',
    );
    expect(await redeem(visit, await allow(visit))).toBe(ACTIVE_ID);
    await visit.page.close();

    // And now that they granted it, without prompt: still their own account.
    const again = await authorize();
    expect(again.callback?.searchParams.get('code')).toBeTruthy();
    expect(await redeem(again, again.callback as URL)).toBe(ACTIVE_ID);
    await again.page.close();
  });

  it('prompt=consent with a different person signed in shows them the consent page', async () => {
    await signInBrowser(shared, t, ADA);
    const ada = await authorize('consent');
    expect(await redeem(ada, await allow(ada))).toBe(ADA);
    await ada.page.close();

    // The browser's authorization server session is Ada's; someone else signs in and connects the app.
    await signInBrowser(shared, t, ACTIVE_ID);
    const visit = await authorize('consent');
    expect(new URL(visit.page.url()).pathname).toMatch(/^\/oauth\/interaction\//);
    await expect(visit.page.getByRole('heading', { level: 1 }).textContent()).resolves.toContain(
      'Timesheets',
    );
    expect(await redeem(visit, await allow(visit))).toBe(ACTIVE_ID);
    await visit.page.close();
  });

  it('a consent page left open while someone else signs in is answered for whoever is signed in now', async () => {
    await signInBrowser(shared, t, ADA);
    const visit = await authorize('consent');
    expect(new URL(visit.page.url()).pathname).toMatch(/^\/oauth\/interaction\//);
    // Someone else signs in on the same browser, then the page is loaded again.
    await signInBrowser(shared, t, ACTIVE_ID);
    await visit.page.reload();
    await expect(visit.page.getByRole('heading', { level: 1 }).textContent()).resolves.toContain(
      'Timesheets',
    );
    expect(await redeem(visit, await allow(visit))).toBe(ACTIVE_ID);
    await visit.page.close();
  });

  it('"Sign out everywhere" ends every authorization server session of the person', async () => {
    await signInBrowser(shared, t, ADA);
    const here = await authorize('consent');
    expect(await redeem(here, await allow(here))).toBe(ADA);
    await here.page.close();
    const elsewhere = await browser.newContext({ baseURL: t.baseUrl });
    await signInBrowser(elsewhere, t, ADA);
    const other = await elsewhere.newPage();
    await other.route(`${APP_ORIGIN}/**`, (route) => route.fulfill({ status: 200, body: 'App' }));
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(timesheets, {
      redirect_uri: REDIRECT,
      scope: SCOPE,
      state: client.randomState(),
      response_type: 'code',
      prompt: 'consent',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    await other.goto(url.href);
    await other.getByRole('button', { name: 'Allow access' }).click();
    await other.waitForURL((u) => u.origin === APP_ORIGIN);
    expect((await providerSessions(ADA)).length).toBe(2);

    const page = await shared.newPage();
    await page.goto('/');
    await page.getByRole('button', { name: /Sign out everywhere/ }).click();
    await page.waitForURL((u) => u.pathname === '/login');
    await page.close();
    expect(await providerSessions(ADA)).toEqual([]);
    expect(await providerCookie()).toBeUndefined();
    await elsewhere.close();
  });
});

describe('behind a TLS proxy that is not trusted (an https public URL, plain http inside)', () => {
  let https: TestApp;
  beforeAll(async () => {
    https = await createTestApp({ CUSTOS_PUBLIC_URL: 'https://custos.test' });
    await importExample(https, directory());
  });
  afterAll(async () => {
    await https?.close();
  });

  it("marks the authorization server's cookies Secure, and its session cookie ends with the browser", async () => {
    const web = new WebClient(https, { host: 'custos.test', 'sec-fetch-site': 'same-origin' });
    await web.signIn(ADA);
    const challenge = await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier());
    let res = await web.get(
      `/authorize?${new URLSearchParams({
        client_id: 'timesheets',
        redirect_uri: REDIRECT,
        response_type: 'code',
        scope: SCOPE,
        state: 'st',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      })}`,
    );
    const cookies: { name: string; secure?: boolean; expires?: Date; maxAge?: number }[] = [];
    // Through Custos's sign-in step and back to the server, which then keeps its session.
    for (let hops = 0; hops < 4 && res.statusCode === 303; hops++) {
      cookies.push(...(res.cookies as typeof cookies));
      const next = new URL(String(res.headers.location), 'https://custos.test');
      if (next.origin !== 'https://custos.test') break;
      res = await web.get(`${next.pathname}${next.search}`);
    }
    cookies.push(...(res.cookies as typeof cookies));
    const own = cookies.filter((c) => c.name.startsWith('custos-oauth-'));
    expect(own.length).toBeGreaterThan(0);
    for (const cookie of own) {
      expect({ name: cookie.name, secure: cookie.secure }).toEqual({ name: cookie.name, secure: true });
    }
    const names = new Set(own.map((c) => c.name));
    expect(names).toContain('custos-oauth-interaction');
    expect(names).toContain(PROVIDER_SESSION_COOKIE);
    const session = cookies.filter((c) => c.name === PROVIDER_SESSION_COOKIE && c.maxAge !== 0);
    expect(session.length).toBeGreaterThan(0);
    for (const cookie of session) expect(cookie.expires).toBeUndefined();
  });
});
