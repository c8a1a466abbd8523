import * as client from 'openid-client';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkPage,
  launchBrowser,
  type ServedApp,
  serveTestApp,
  signedInContext,
} from '../helpers/browser.js';
import {
  ACTIVE_ID,
  ADA,
  exampleDirectory,
  importExample,
  oauthToken,
  SECRETS,
} from '../helpers/directory.js';

/**
 * A person grants apps access (OAuth 2.0 authorization code + PKCE, docs/app-grants.md): a
 * real relying party (openid-client) against Custos over real HTTP, the person in Chromium.
 */
const REDIRECT = 'https://timesheets.vendor.test/oauth/callback';
const MAILER_REDIRECT = 'https://mailer.vendor.test/callback';
const SCOPE = 'read:me read:account read:user offline_access';

/** The /me shape the platform's clients (jira.js's userManagement.getProfile) type. */
interface Profile {
  account_type: string;
  account_id: string;
  email?: string;
  name: string;
  picture: string;
  account_status: string;
  nickname?: string;
  zoneinfo?: string;
  locale?: string;
  extended_profile: { job_title?: string; organization?: string; department?: string; location?: string };
}

let t: ServedApp;
let browser: Browser;
let person: BrowserContext;

function directory() {
  const file = exampleDirectory();
  for (const app of file.apps ?? []) {
    if (app.key === 'com.vendor.timesheets' && app.oauth) app.oauth.redirectUris = [REDIRECT];
    if (app.key === 'com.vendor.mailer' && app.oauth) app.oauth.redirectUris = [MAILER_REDIRECT];
  }
  return file;
}

async function relyingParty(clientId: string, secret: string) {
  return client.discovery(new URL(t.baseUrl), clientId, secret, undefined, {
    execute: [client.allowInsecureRequests],
  });
}

/**
 * Runs the flow in the browser as the signed-in person: the authorize URL, Custos's consent
 * page (checked and screenshot as `screenshot`), Allow; returns the URL the app is sent back to.
 */
async function authorize(
  config: client.Configuration,
  redirectUri: string,
  options: { scope?: string; screenshot?: string; decision?: 'Allow access' | 'Deny' } = {},
) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    audience: 'api.atlassian.com',
    redirect_uri: redirectUri,
    scope: options.scope ?? SCOPE,
    state,
    response_type: 'code',
    prompt: 'consent',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  const page = await person.newPage();
  let callback: URL | undefined;
  await page.route(`${new URL(redirectUri).origin}/**`, async (route) => {
    callback = new URL(route.request().url());
    await route.fulfill({
      status: 200,
      contentType: 'text/html',
      body: '<!doctype html><title>App</title><p>Back in the app</p>',
    });
  });
  await page.goto(url.href);
  await page.getByRole('heading', { level: 1 }).waitFor();
  const heading = await page.getByRole('heading', { level: 1 }).textContent();
  if (options.screenshot) await checkPage(page, options.screenshot);
  const body = await page.locator('main').textContent();
  await page.getByRole('button', { name: options.decision ?? 'Allow access' }).click();
  await page.waitForURL((u) => u.origin === new URL(redirectUri).origin);
  await page.close();
  if (!callback) throw new Error('the app was not called back');
  return { callback, verifier, state, heading, body };
}

async function grantTokens(config: client.Configuration, redirectUri: string, screenshot?: string) {
  const { callback, verifier, state, body } = await authorize(config, redirectUri, { screenshot });
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedState: state,
  });
  return { tokens, body };
}

const call = (token: string, path: string) =>
  fetch(`${t.baseUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });

beforeAll(async () => {
  t = await serveTestApp();
  await importExample(t, directory());
  browser = await launchBrowser();
  person = await signedInContext(browser, t, ADA);
  person.setDefaultTimeout(120_000);
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

// Each step drives Chromium through several pages and an accessibility scan: minutes, not
// seconds, on a loaded machine.
describe('authorization code + PKCE with openid-client, in Chromium', { timeout: 240_000 }, () => {
  let timesheets: client.Configuration;
  let mailer: client.Configuration;
  let access: string;
  let refresh: string;
  let mailerAccess: string;

  it('publishes discovery and an asymmetric JWKS at /oauth/jwks', async () => {
    timesheets = await relyingParty('timesheets', SECRETS.timesheetsClient);
    const metadata = timesheets.serverMetadata();
    expect(metadata.authorization_endpoint).toBe(`${t.baseUrl}/authorize`);
    expect(metadata.token_endpoint).toBe(`${t.baseUrl}/oauth/token`);
    expect(metadata.jwks_uri).toBe(`${t.baseUrl}/oauth/jwks`);
    const jwks = (await (await fetch(`${t.baseUrl}/oauth/jwks`)).json()) as {
      keys: Record<string, unknown>[];
    };
    expect(jwks.keys.length).toBeGreaterThan(0);
    for (const key of jwks.keys) {
      expect(key.kty).toBe('RSA');
      expect(key).not.toHaveProperty('d');
    }
  });

  it('shows the consent page, then exchanges the code for tokens', async () => {
    const { tokens, body } = await grantTokens(timesheets, REDIRECT, 'grants-consent');
    expect(body).toContain('Timesheets');
    expect(body).toContain('Vendor Ltd');
    expect(body).toContain('Email address');
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.refresh_token).toBeTruthy();
    expect(tokens.scope?.split(' ').sort()).toEqual(SCOPE.split(' ').sort());
    access = tokens.access_token;
    refresh = tokens.refresh_token as string;
  });

  it("answers /me with the granter's own private email", async () => {
    const res = await call(access, '/me');
    expect(res.status).toBe(200);
    const me = (await res.json()) as Profile;
    expect(me).toMatchObject({
      account_id: ADA,
      account_type: 'atlassian',
      account_status: 'active',
      email: 'ada@acme.test',
      name: 'Ada Lovelace',
      nickname: 'ada',
      zoneinfo: 'Europe/London',
      extended_profile: { job_title: 'Engineer', department: 'R&D', location: 'London' },
    });
  });

  it('opens the private email on the user API for the granter only, audited', async () => {
    const own = (await (await call(access, `/rest/api/3/user?accountId=${ADA}`)).json()) as Record<
      string,
      unknown
    >;
    expect(own.emailAddress).toBe('ada@acme.test');
    const other = (await (await call(access, `/rest/api/3/user?accountId=${ACTIVE_ID}`)).json()) as Record<
      string,
      unknown
    >;
    expect(other.accountId).toBe(ACTIVE_ID);
    expect(other.emailAddress).toBeUndefined();
    const bulk = (await (
      await call(access, `/rest/api/3/user/bulk?accountId=${ADA}&accountId=${ACTIVE_ID}`)
    ).json()) as {
      values: Record<string, unknown>[];
    };
    expect(bulk.values.map((u) => u.emailAddress)).toEqual(['ada@acme.test', undefined]);
    // The same app with client credentials sees only what Ada made public.
    const appToken = await oauthToken(t, 'timesheets', SECRETS.timesheetsClient);
    const asApp = (await (await call(appToken, `/rest/api/3/user?accountId=${ADA}`)).json()) as Record<
      string,
      unknown
    >;
    expect(asApp.emailAddress).toBeUndefined();
    const entries = await t.ctx.database.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', 'profile.disclosed')
      .execute();
    expect(entries.length).toBeGreaterThanOrEqual(3);
    expect(entries.every((e) => e.account_id === ADA && e.app_key === 'com.vendor.timesheets')).toBe(true);
    expect(JSON.stringify(entries)).not.toContain('ada@acme.test');
  });

  it('rotates the refresh token, and a reused one revokes the whole grant', async () => {
    const first = await client.refreshTokenGrant(timesheets, refresh);
    expect(first.refresh_token).toBeTruthy();
    expect(first.refresh_token).not.toBe(refresh);
    expect((await call(first.access_token, '/me')).status).toBe(200);
    // The rotated-out token used again: refused, and every token of the grant with it.
    await expect(client.refreshTokenGrant(timesheets, refresh)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    expect((await call(first.access_token, '/me')).status).toBe(401);
    expect((await call(access, '/me')).status).toBe(401);
    await expect(client.refreshTokenGrant(timesheets, first.refresh_token as string)).rejects.toThrow();
    const introspected = await client.tokenIntrospection(timesheets, first.access_token);
    expect(introspected.active).toBe(false);
  });

  it('grants again, and a second app gets its own grant', async () => {
    ({
      tokens: { access_token: access, refresh_token: refresh = '' },
    } = await grantTokens(timesheets, REDIRECT));
    mailer = await relyingParty('mailer', SECRETS.mailerClient);
    ({
      tokens: { access_token: mailerAccess },
    } = await grantTokens(mailer, MAILER_REDIRECT));
    expect((await call(access, '/me')).status).toBe(200);
    expect((await call(mailerAccess, '/me')).status).toBe(200);
    expect((await client.tokenIntrospection(timesheets, access)).active).toBe(true);
  });

  it('lists the connected apps, and "Remove access" ends that grant only at once', async () => {
    const page = await person.newPage();
    await page.goto('/privacy/connected-apps');
    const apps = page.locator('section.grant-app');
    expect(await apps.count()).toBe(2);
    await expect(page.locator('main').textContent()).resolves.toContain('Email address');
    await checkPage(page, 'grants-connected-apps');
    await page.getByRole('button', { name: 'Remove access of Timesheets' }).click();
    await page.getByRole('status').waitFor();
    expect(await page.locator('section.grant-app').count()).toBe(1);
    await checkPage(page, 'grants-connected-apps-removed');
    await page.close();

    expect((await call(access, '/me')).status).toBe(401);
    expect((await call(access, `/rest/api/3/user?accountId=${ADA}`)).status).toBe(401);
    expect((await client.tokenIntrospection(timesheets, access)).active).toBe(false);
    expect((await client.tokenIntrospection(timesheets, refresh)).active).toBe(false);
    await expect(client.refreshTokenGrant(timesheets, refresh)).rejects.toThrow();
    // Ada's grant to the other app still works.
    expect((await call(mailerAccess, '/me')).status).toBe(200);
    expect((await client.tokenIntrospection(mailer, mailerAccess)).active).toBe(true);
    // And so do the app's own client-credentials tokens.
    const appToken = await oauthToken(t, 'timesheets', SECRETS.timesheetsClient);
    expect((await call(appToken, `/rest/api/3/user?accountId=${ADA}`)).status).toBe(200);
  });

  it('sends the app access_denied when the person denies', async () => {
    const { callback } = await authorize(timesheets, REDIRECT, { decision: 'Deny' });
    expect(callback.searchParams.get('error')).toBe('access_denied');
  });
});
