import * as client from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { launchBrowser, type ServedApp, serveTestApp, signInBrowser } from '../helpers/browser.js';
import { ACTIVE_ID, ADA, exampleDirectory, GINA, importExample, SECRETS } from '../helpers/directory.js';
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

/**
 * Sends the shared browser to /authorize as the app would, and stops where it lands. `start`,
 * if given, takes the authorization URL and answers where the browser goes instead (a step of
 * the flow taken without it).
 */
async function authorize(prompt?: 'consent' | 'none', start?: (url: URL) => Promise<URL>): Promise<Visit> {
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
  await page.goto((start ? await start(url) : url).href).catch((error: unknown) => {
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

/** Ada signs in on the shared browser and allows the app (prompt=consent); it redeems her code. */
async function adaGrantsTheApp(): Promise<void> {
  await signInBrowser(shared, t, ADA);
  const granted = await authorize('consent');
  expect(await redeem(granted, await allow(granted))).toBe(ADA);
  await granted.page.close();
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

/** "Sign out" on Custos's page: the Custos session and the server's session with the browser end. */
async function signOut(): Promise<void> {
  const page = await shared.newPage();
  await page.goto('/privacy');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL((u) => u.pathname === '/login');
  await page.close();
}

/** The authorization codes the server issued for the account and still holds (used or not). */
async function issuedCodes(accountId: string) {
  return t.ctx.database.db
    .selectFrom('oauth_records')
    .select('id')
    .where('model', '=', 'AuthorizationCode')
    .where('account_id', '=', accountId)
    .execute();
}

/**
 * One request of the flow on the shared browser's cookies, its redirect not followed (as a
 * browser that has not yet followed it): answers where it redirects to.
 */
async function hop(url: URL): Promise<URL> {
  const res = await shared.request.get(url.href, { maxRedirects: 0 });
  expect(res.status()).toBe(303);
  return new URL(res.headers().location ?? '', t.baseUrl);
}

/** The step an interaction the server started asks for (its stored record's prompt). */
async function askedFor(uid: string): Promise<{ name?: string; reasons?: string[] } | undefined> {
  const row = await t.ctx.database.db
    .selectFrom('oauth_records')
    .select('payload')
    .where('model', '=', 'Interaction')
    .where('id', '=', uid)
    .executeTakeFirst();
  return row
    ? (JSON.parse(row.payload) as { prompt?: { name?: string; reasons?: string[] } }).prompt
    : undefined;
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
    await adaGrantsTheApp();

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
    await adaGrantsTheApp();
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
    await adaGrantsTheApp();

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
    await adaGrantsTheApp();

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
    await adaGrantsTheApp();
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

  it('prompt=none answers login_required while the server has no session of the person signed in', async () => {
    await signInBrowser(shared, t, ADA);
    await signOut();
    // Nobody signed in: the app hears login_required at its redirect URI, with its state.
    const nobody = await authorize('none');
    expect(nobody.callback?.searchParams.get('error')).toBe('login_required');
    expect(nobody.callback?.searchParams.get('state')).toBe(nobody.state);
    expect(nobody.callback?.searchParams.has('code')).toBe(false);
    await nobody.page.close();

    // Ada grants the app, signs out and signs in again: her grant stands, the server's session did not.
    await adaGrantsTheApp();
    await signOut();
    await signInBrowser(shared, t, ADA);
    const codes = (await issuedCodes(ADA)).length;
    const silent = await authorize('none');
    expect(silent.callback?.searchParams.get('error')).toBe('login_required');
    expect(silent.callback?.searchParams.has('code')).toBe(false);
    await silent.page.close();
    expect((await issuedCodes(ADA)).length).toBe(codes);

    // One round trip without prompt=none: the server's new session is hers once it has passed
    // the sign-in step, which she already took on Custos, and her grant is hers, not the old
    // session's: she is sent back with a code, no page to answer on the way.
    const interactive = await authorize();
    expect(interactive.callback?.searchParams.get('code')).toBeTruthy();
    expect(await redeem(interactive, interactive.callback as URL)).toBe(ADA);
    await interactive.page.close();
    // From then on prompt=none is answered with a code, for her.
    const again = await authorize('none');
    expect(again.callback?.searchParams.get('code')).toBeTruthy();
    expect(await redeem(again, again.callback as URL)).toBe(ADA);
    await again.page.close();

    // Someone else signs in over her session: login_required again, never a code for Ada.
    await signInBrowser(shared, t, ACTIVE_ID);
    const other = await authorize('none');
    expect(other.callback?.searchParams.get('error')).toBe('login_required');
    expect(other.callback?.searchParams.has('code')).toBe(false);
    await other.page.close();
  });

  it('prompt=none: a Custos session ended without signing out leaves the server session to the same person signing in again', async () => {
    await adaGrantsTheApp();
    // A timeout, or an end from another device: no sign-out on this browser, no /authorize since.
    await t.ctx.sessions.endAll(ADA);
    await signInBrowser(shared, t, ADA);
    const silent = await authorize('none');
    expect(silent.callback?.searchParams.get('code')).toBeTruthy();
    expect(await redeem(silent, silent.callback as URL)).toBe(ADA);
    await silent.page.close();
  });

  it('after "Remove access", the app gets the consent page again, in the same session and in a new one', async () => {
    await adaGrantsTheApp();
    const connected = await t.ctx.grants.listConnectedApps(ADA);
    expect(connected).toHaveLength(1);
    await t.ctx.grants.removeGrant(ADA, connected[0]?.grantId as string, { type: 'account', id: ADA });
    const codes = (await issuedCodes(ADA)).length;

    // The server's session still names the removed grant: it is gone, so the app asks again.
    const same = await authorize();
    expect(same.callback).toBeUndefined();
    expect(new URL(same.page.url()).pathname).toMatch(/^\/oauth\/interaction\//);
    await same.page.close();
    // A new session finds no grant of hers either.
    await signOut();
    await signInBrowser(shared, t, ADA);
    const fresh = await authorize();
    expect(fresh.callback).toBeUndefined();
    expect(new URL(fresh.page.url()).pathname).toMatch(/^\/oauth\/interaction\//);
    expect((await issuedCodes(ADA)).length).toBe(codes);
    expect(await redeem(fresh, await allow(fresh))).toBe(ADA);
    await fresh.page.close();
  });

  /*
   * Someone else signs in between the consent page and the resume. Ada allows the app; before the
   * browser follows the redirect to /authorize/:uid, Gina (who never granted it) signs in on that
   * browser. The interaction carries the sign-in and the consent of Ada, but the server never
   * applies them: the resume goes through GrantService.authorize(), which ends Ada's session with
   * the browser (it is not Gina's), and the library then refuses an interaction made under a
   * session that is no longer the browser's ("interaction session and authentication session
   * mismatch") on Custos's error page. This race is guarded there, before the custos_session check
   * of interactionPolicyOf is reached; the next test is the race that reaches it.
   */
  it('someone else signing in between consent and resume gets no code, for either person', async () => {
    await signInBrowser(shared, t, ADA);
    const visit = await authorize('consent');
    expect(new URL(visit.page.url()).pathname).toMatch(/^\/oauth\/interaction\//);
    const codes = { ada: (await issuedCodes(ADA)).length, gina: (await issuedCodes(GINA)).length };
    // The consent form is posted, its answer (a redirect to the resume) kept from the browser.
    let resume: URL | undefined;
    await visit.page.route(`${t.baseUrl}/oauth/interaction/*`, async (route) => {
      if (route.request().method() !== 'POST') return route.continue();
      const answer = await route.fetch({ maxRedirects: 0 });
      expect(answer.status()).toBe(303);
      resume = new URL(answer.headers().location ?? '', t.baseUrl);
      const { location: _, ...headers } = answer.headers();
      await route.fulfill({
        status: 200,
        headers: { ...headers, 'content-type': 'text/html' },
        body: 'Held',
      });
    });
    await visit.page.getByRole('button', { name: 'Allow access' }).click();
    await expect.poll(() => resume?.pathname).toMatch(/^\/authorize\//);
    await visit.page.unroute(`${t.baseUrl}/oauth/interaction/*`);
    // The browser holds what the resume needs: it is the session that fails it, nothing else.
    const held = await shared.cookies((resume as URL).href);
    expect(held.map((c) => c.name)).toContain('custos-oauth-resume');

    await signInBrowser(shared, t, GINA);
    await visit.page.goto((resume as URL).href).catch((error: unknown) => {
      if (!visit.callback) throw error;
    });
    expect(visit.callback).toBeUndefined();
    await expect(visit.page.getByRole('heading', { level: 1 }).textContent()).resolves.toContain(
      'could not be completed',
    );
    expect((await issuedCodes(ADA)).length).toBe(codes.ada);
    expect((await issuedCodes(GINA)).length).toBe(codes.gina);
    expect(await t.ctx.grants.listConnectedApps(GINA)).toEqual([]);
    await visit.page.close();
  });

  /*
   * The race the custos_session check sees: Custos answers the server's sign-in step for Ada (no
   * session with the server yet, so nothing for authorize() to end), and before the browser
   * follows the resume Gina signs in there. Resuming applies the sign-in for Ada, and the check
   * then asks for sign-in again because Ada is not who is signed in to Custos. Without the check
   * no code for Ada would be issued here either: the grant lookup (loadExistingGrant) reads the
   * Custos session too and finds no grant of Ada's for Gina's browser, so the server asks for
   * consent, and Custos's consent step sends a request begun under someone else's session back
   * through /authorize (GrantService.interaction()). The check is the policy's own guarantee
   * beside those, so this test also reads which step the server asked for.
   */
  it('someone else signing in between the sign-in step and resume gets their own consent page, never a code for the first', async () => {
    await adaGrantsTheApp();
    await signOut();
    await signInBrowser(shared, t, ADA);
    const codes = (await issuedCodes(ADA)).length;

    let asked: { name?: string; reasons?: string[] } | undefined;
    const visit = await authorize(undefined, async (url) => {
      // Custos answers the sign-in step for Ada; the browser has not followed the resume yet.
      const resume = await hop(await hop(url));
      expect(resume.pathname).toMatch(/^\/authorize\//);
      await signInBrowser(shared, t, GINA);
      const next = await hop(resume);
      expect(next.pathname).toMatch(/^\/oauth\/interaction\//);
      asked = await askedFor(next.pathname.split('/').pop() ?? '');
      return next;
    });
    // The server asked for sign-in again, because of the Custos session.
    expect(asked?.name).toBe('login');
    expect(asked?.reasons).toContain('custos_session');
    expect(visit.callback).toBeUndefined();
    expect((await issuedCodes(ADA)).length).toBe(codes);
    await expect(visit.page.getByRole('heading', { level: 1 }).textContent()).resolves.toContain(
      'Timesheets',
    );
    expect(await redeem(visit, await allow(visit))).toBe(GINA);
    await visit.page.close();
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
