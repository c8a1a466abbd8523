import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../../src/audit/audit.verify.js';
import type { ImportApp } from '../../src/directory/import.schemas.js';
import { TEST_OPERATOR } from '../helpers/app.js';
import { type ServedApp, serveTestApp } from '../helpers/browser.js';
import {
  ACTIVE_ID,
  ADA,
  exampleDirectory,
  getWithBearer,
  importExample,
  oauthToken,
  SECRETS,
  userUrl,
} from '../helpers/directory.js';
import { WebClient } from '../helpers/web.js';

/**
 * The rules around user grants (docs/app-grants.md), the flow driven without a browser: the
 * pages through a cookie-keeping client, the token endpoint as an app calls it.
 */
const REDIRECT = 'https://timesheets.vendor.test/oauth/callback';
const FULL = 'read:me read:account read:user offline_access';

let t: ServedApp;

function directory() {
  const file = exampleDirectory();
  for (const app of file.apps ?? []) {
    if (app.key === 'com.vendor.timesheets' && app.oauth) app.oauth.redirectUris = [REDIRECT];
    if (app.key === 'com.vendor.mailer' && app.oauth)
      app.oauth.redirectUris = ['https://mailer.vendor.test/cb'];
  }
  return file;
}

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

function authorizeUrl(params: Record<string, string>) {
  return `/authorize?${new URLSearchParams({
    audience: 'api.atlassian.com',
    client_id: 'timesheets',
    redirect_uri: REDIRECT,
    response_type: 'code',
    prompt: 'consent',
    state: 'st-1',
    ...params,
  })}`;
}

const pathOf = (location: unknown) => {
  const url = new URL(String(location), t.baseUrl);
  return url.origin === t.baseUrl ? `${url.pathname}${url.search}` : url.href;
};

/** Follows same-site redirects until the consent page or the app's redirect URI. */
async function follow(browser: WebClient, start: string) {
  let res = await browser.get(start);
  for (let hops = 0; hops < 6 && res.statusCode >= 300 && res.statusCode < 400; hops++) {
    const next = pathOf(res.headers.location);
    if (next.startsWith('https://')) return { res, callback: new URL(next) };
    res = await browser.get(next);
  }
  return { res, callback: undefined };
}

/** A person grants Timesheets `scope`, answering the consent page; returns the token answer. */
async function grant(accountId: string, scope = FULL) {
  const browser = new WebClient(t, { 'sec-fetch-site': 'same-origin' });
  await browser.signIn(accountId);
  const { verifier, challenge } = pkce();
  const consent = await follow(
    browser,
    authorizeUrl({ scope, code_challenge: challenge, code_challenge_method: 'S256' }),
  );
  expect(consent.res.statusCode).toBe(200);
  const action = /<form method="post" action="([^"]+)"/.exec(consent.res.body)?.[1] as string;
  const decided = await browser.post(action, { decision: 'allow' });
  expect(decided.statusCode).toBe(303);
  const { callback } = await follow(browser, pathOf(decided.headers.location));
  const code = callback?.searchParams.get('code');
  expect(code).toBeTruthy();
  const res = await t.app.inject({
    method: 'POST',
    url: '/oauth/token',
    payload: {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      client_id: 'timesheets',
      client_secret: SECRETS.timesheetsClient,
    },
  });
  expect(res.statusCode).toBe(200);
  return {
    tokens: res.json() as { access_token: string; refresh_token?: string; scope: string },
    page: consent.res.body,
  };
}

function clientPost(url: string, form: Record<string, string>) {
  return t.app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({
      client_id: 'timesheets',
      client_secret: SECRETS.timesheetsClient,
      ...form,
    }).toString(),
  });
}

beforeAll(async () => {
  t = await serveTestApp();
  await importExample(t, directory());
});
afterAll(() => t?.close());

describe('user grants: the rules', () => {
  it('sends the browser nowhere for a redirect URI that is not registered exactly', async () => {
    const browser = new WebClient(t);
    await browser.signIn(ADA);
    for (const redirect of [`${REDIRECT}/`, `${REDIRECT}?x=1`, 'https://evil.test/oauth/callback']) {
      const res = await browser.get(authorizeUrl({ redirect_uri: redirect, ...pkceParams() }));
      expect(res.statusCode).toBe(400);
      expect(res.headers.location).toBeUndefined();
    }
  });

  it('refuses the plain PKCE method', async () => {
    const browser = new WebClient(t);
    await browser.signIn(ADA);
    const res = await browser.get(
      authorizeUrl({ scope: 'read:me', code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' }),
    );
    // The redirect URI is registered, so the app hears of the error (RFC 6749 §4.1.2.1).
    const location = new URL(String(res.headers.location));
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
    expect(location.searchParams.get('error')).toBe('invalid_request');
  });

  it('asks again, marking what is new, when the app asks for more than was granted', async () => {
    const first = await grant(ACTIVE_ID, 'read:me');
    expect(first.tokens.scope).toBe('read:me');
    expect(first.tokens.refresh_token).toBeUndefined();
    // Read:me alone opens nothing private: Grace's name stays hidden.
    const me = (await getWithBearer(t, first.tokens.access_token, '/me')).json();
    expect(me).toMatchObject({ account_id: ACTIVE_ID, name: 'grace' });
    expect(me.email).toBeUndefined();
    const second = await grant(ACTIVE_ID, 'read:me read:account');
    expect(second.page).toContain('asks for more access');
    expect(second.page).toContain('(new)');
    const wider = (await getWithBearer(t, second.tokens.access_token, '/me')).json();
    expect(wider).toMatchObject({ email: 'grace@acme.test', name: 'Grace Hopper' });
    // One grant per person and app: the list shows Timesheets once.
    expect(await t.ctx.grants.listConnectedApps(ACTIVE_ID)).toHaveLength(1);
  });

  it('revokes one token by RFC 7009, leaving the grant and its other tokens', async () => {
    const { tokens } = await grant(ADA);
    const other = await clientPost('/oauth/token', {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token as string,
    });
    expect(other.statusCode).toBe(200);
    const next = other.json() as { access_token: string };
    expect((await clientPost('/oauth/revoke', { token: tokens.access_token })).statusCode).toBe(200);
    expect((await getWithBearer(t, tokens.access_token, '/me')).statusCode).toBe(401);
    expect((await getWithBearer(t, next.access_token, '/me')).statusCode).toBe(200);
    const introspected = await clientPost('/oauth/introspect', { token: next.access_token });
    expect(introspected.json()).toMatchObject({ active: true, client_id: 'timesheets', sub: ADA });
    // Another app may not introspect Timesheets' tokens.
    const foreign = await t.app.inject({
      method: 'POST',
      url: '/oauth/introspect',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        client_id: 'mailer',
        client_secret: SECRETS.mailerClient,
        token: next.access_token,
      }).toString(),
    });
    expect(foreign.json()).toEqual({ active: false });
  });

  it('refuses a wrong client secret on the code exchange, and a client-credentials token on /me', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/oauth/token',
      payload: {
        grant_type: 'refresh_token',
        refresh_token: 'x',
        client_id: 'timesheets',
        client_secret: 'wrong',
      },
    });
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toBe('invalid_client');
    const appToken = await oauthToken(t, 'timesheets', SECRETS.timesheetsClient);
    expect((await getWithBearer(t, appToken, '/me')).statusCode).toBe(403);
    // Failed client authentications count against the same budget as client credentials'.
    const guess = () =>
      t.app.inject({
        method: 'POST',
        url: '/oauth/token',
        payload: {
          grant_type: 'authorization_code',
          code: 'x',
          client_id: 'guessed',
          client_secret: 'wrong',
        },
      });
    for (let i = 0; i < t.ctx.config.authFailureLimit; i++) expect((await guess()).statusCode).toBe(401);
    const limited = await guess();
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error).toBe('slow_down');
    expect(limited.headers['retry-after']).toBeDefined();
  });

  it('reads nothing through a grant while the person restricted the processing of their data', async () => {
    const { tokens } = await grant(ADA);
    const email = async () => (await getWithBearer(t, tokens.access_token, userUrl(ADA))).json().emailAddress;
    expect((await getWithBearer(t, tokens.access_token, '/me')).statusCode).toBe(200);
    expect(await email()).toBe('ada@acme.test');
    // A restriction as a data-subject request records it (GDPR art. 18).
    const restriction = {
      account_id: ADA,
      kind: 'restricted',
      request_id: 'dsr-test',
      since: new Date().toISOString(),
    };
    await t.ctx.database.db.insertInto('account_restrictions').values(restriction).execute();
    expect((await getWithBearer(t, tokens.access_token, '/me')).statusCode).toBe(403);
    expect(await email()).toBeUndefined();
    await t.ctx.database.db.deleteFrom('account_restrictions').where('account_id', '=', ADA).execute();
    expect((await getWithBearer(t, tokens.access_token, '/me')).statusCode).toBe(200);
    expect(await email()).toBe('ada@acme.test');
  });

  it("revokes the app's grants when its client stops taking part in grants, for good", async () => {
    for (const change of [
      (app: ImportApp) => Object.assign(app.oauth ?? {}, { redirectUris: [] }),
      (app: ImportApp) => Object.assign(app.oauth ?? {}, { clientId: 'timesheets-2' }),
      (app: ImportApp) => delete app.oauth,
    ]) {
      const ada = await grant(ADA);
      const before = (await revocations(ADA)).length;
      const file = directory();
      change(file.apps?.find((a) => a.key === 'com.vendor.timesheets') as ImportApp);
      await importExample(t, file);
      // Back as it was: what was revoked stays revoked.
      await importExample(t, directory());
      await expectRevoked(ada.tokens, ADA);
      const revoked = (await revocations(ADA)).slice(before);
      expect(revoked).toHaveLength(1);
      expect(revoked[0]).toMatchObject({ details: { clientId: 'timesheets', reason: 'client-removed' } });
    }
  });

  it("revokes the app's grants when it is uninstalled from its last site, for good", async () => {
    const ada = await grant(ADA);
    await t.ctx.directory.uninstall('ts-acme-1', TEST_OPERATOR);
    // Still installed on globex-prod: the token and its refresh work there.
    expect((await getWithBearer(t, ada.tokens.access_token, '/me')).statusCode).toBe(200);
    const sites = (
      await getWithBearer(t, ada.tokens.access_token, '/oauth/token/accessible-resources')
    ).json();
    expect(sites.map((s: { id: string }) => s.id)).toEqual(['globex-prod']);
    const refreshed = await clientPost('/oauth/token', {
      grant_type: 'refresh_token',
      refresh_token: ada.tokens.refresh_token as string,
    });
    expect(refreshed.statusCode).toBe(200);
    const tokens = refreshed.json() as { access_token: string; refresh_token: string };
    const before = (await revocations(ADA)).length;
    await t.ctx.directory.uninstall('ts-globex-1', TEST_OPERATOR);
    // Installed again: what was revoked stays revoked.
    await importExample(t, directory());
    await expectRevoked(tokens, ADA);
    const revoked = (await revocations(ADA)).slice(before);
    expect(revoked).toHaveLength(1);
    expect(revoked[0]).toMatchObject({ details: { clientId: 'timesheets', reason: 'app-uninstalled' } });
  });

  it('revokes thousands of grants in batches, each audited with the records it ended', async () => {
    const now = new Date().toISOString();
    const people = Array.from({ length: 1_100 }, (_, i) => `crowd-${String(i).padStart(4, '0')}`);
    // Stored as the authorization server stores them: each grant with two tokens issued under it.
    const rows = people.flatMap((accountId) =>
      ['Grant', 'AccessToken', 'RefreshToken'].map((model) => ({
        model,
        id: model === 'Grant' ? `grant-${accountId}` : `${model}-${accountId}`,
        payload: '{}',
        grant_id: `grant-${accountId}`,
        account_id: accountId,
        client_id: 'timesheets',
        created_at: now,
        expires_at: null,
      })),
    );
    for (let i = 0; i < rows.length; i += 300)
      await t.ctx.database.db
        .insertInto('oauth_records')
        .values(rows.slice(i, i + 300))
        .execute();
    await t.ctx.directory.uninstall('ts-acme-1', TEST_OPERATOR);
    await t.ctx.directory.uninstall('ts-globex-1', TEST_OPERATOR);
    await importExample(t, directory());

    const left = await t.ctx.database.db
      .selectFrom('oauth_records')
      .select('id')
      .where('account_id', 'like', 'crowd-%')
      .execute();
    expect(left).toEqual([]);
    const audited = await t.ctx.database.db
      .selectFrom('audit_events')
      .select(['account_id', 'details'])
      .where('action', '=', 'grant.revoked')
      .where('account_id', 'like', 'crowd-%')
      .orderBy('id')
      .execute();
    expect(audited.map((row) => row.account_id)).toEqual(people);
    for (const row of audited)
      expect(JSON.parse(String(row.details))).toEqual({
        grantId: `grant-${row.account_id}`,
        clientId: 'timesheets',
        reason: 'app-uninstalled',
        records: 3,
      });
    expect((await verifyAuditChain(t.ctx.database.db)).broken).toBeUndefined();
  });

  it("revokes every grant of an account when it closes, leaving other people's", async () => {
    const grace = await grant(ACTIVE_ID);
    const ada = await grant(ADA);
    expect((await getWithBearer(t, grace.tokens.access_token, '/me')).statusCode).toBe(200);
    const before = (await revocations(ACTIVE_ID)).length;
    await t.ctx.directory.closeAccount(ACTIVE_ID, TEST_OPERATOR);
    await expectRevoked(grace.tokens, ACTIVE_ID);
    const revoked = (await revocations(ACTIVE_ID)).slice(before);
    expect(revoked).toHaveLength(1);
    expect(revoked[0]).toMatchObject({
      actor_type: TEST_OPERATOR.type,
      app_key: 'com.vendor.timesheets',
      details: { clientId: 'timesheets', reason: 'account-closed' },
    });
    expect(JSON.stringify(revoked)).not.toMatch(/@|grace|hopper/i);
    // Ada's grant to the same app is hers: it goes on working.
    expect((await getWithBearer(t, ada.tokens.access_token, '/me')).statusCode).toBe(200);
    expect(await t.ctx.grants.listConnectedApps(ADA)).toHaveLength(1);
    // Closing twice revokes nothing more.
    await t.ctx.directory.closeAccount(ACTIVE_ID, TEST_OPERATOR);
    expect(await revocations(ACTIVE_ID)).toHaveLength(before + 1);
  });
});

/** The tokens no longer work in any way, and the person's grant to Timesheets is gone. */
async function expectRevoked(tokens: { access_token: string; refresh_token?: string }, accountId: string) {
  expect((await getWithBearer(t, tokens.access_token, '/me')).statusCode).toBe(401);
  const refreshed = await clientPost('/oauth/token', {
    grant_type: 'refresh_token',
    refresh_token: tokens.refresh_token as string,
  });
  expect(refreshed.statusCode).toBe(400);
  expect(refreshed.json().error).toBe('invalid_grant');
  for (const token of [tokens.access_token, tokens.refresh_token as string])
    expect((await clientPost('/oauth/introspect', { token })).json()).toEqual({ active: false });
  expect(await t.ctx.grants.listConnectedApps(accountId)).toEqual([]);
  const left = await t.ctx.database.db
    .selectFrom('oauth_records')
    .select('id')
    .where('account_id', '=', accountId)
    .where('client_id', '=', 'timesheets')
    .where('model', 'in', ['Grant', 'AccessToken', 'RefreshToken'])
    .execute();
  expect(left).toEqual([]);
}

/** The audit entries of the grants revoked for the account, oldest first. */
async function revocations(accountId: string) {
  const rows = await t.ctx.database.db
    .selectFrom('audit_events')
    .selectAll()
    .where('action', '=', 'grant.revoked')
    .where('account_id', '=', accountId)
    .orderBy('id')
    .execute();
  return rows.map((row) => ({ ...row, details: JSON.parse(String(row.details)) as Record<string, unknown> }));
}

function pkceParams() {
  return { scope: 'read:me', code_challenge: pkce().challenge, code_challenge_method: 'S256' };
}
