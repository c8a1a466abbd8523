import { randomPKCECodeVerifier } from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OIDC_CALLBACK_PATH, type OidcSignIn, type OidcTransaction } from '../../src/signin/oidc.service.js';
import { type ServedApp, serveTestApp } from '../helpers/browser.js';
import { ADA, CLOSED_ID, importExample, OPERATOR } from '../helpers/directory.js';
import { IdentityProvider } from '../helpers/identity-provider.js';
import { WebClient } from '../helpers/web.js';

let idp: IdentityProvider;
let t: ServedApp;
let oidc: OidcSignIn;
let redirectUri: string;

beforeAll(async () => {
  idp = await IdentityProvider.start();
  t = await serveTestApp(idp.env());
  redirectUri = `${t.baseUrl}${OIDC_CALLBACK_PATH}`;
  idp.register(redirectUri);
  await importExample(t);
  await t.ctx.directory.closeAccount(CLOSED_ID, OPERATOR);
  if (!t.ctx.oidc) throw new Error('OpenID Connect sign-in is not set up');
  oidc = t.ctx.oidc;
});
afterAll(async () => {
  await t?.close();
  await idp?.close();
});

/** A sign-in at the provider as `sub`: the transaction Custos keeps and the callback URL the provider sends back. */
async function signInAtProvider(
  sub: string | undefined,
): Promise<{ transaction: OidcTransaction; callback: URL }> {
  idp.nextAccount = sub;
  const { url, transaction } = await oidc.begin(redirectUri, '/privacy');
  const authorization = new URL(url);
  expect(authorization.searchParams.get('code_challenge_method')).toBe('S256');
  expect(authorization.searchParams.get('state')).toBe(transaction.state);
  expect(authorization.searchParams.get('nonce')).toBe(transaction.nonce);
  return { transaction, callback: new URL(await idp.authorize(url, redirectUri)) };
}

describe('OpenID Connect sign-in, against a real provider', () => {
  it('signs in the account the configured claim names, audited by id', async () => {
    const { transaction, callback } = await signInAtProvider(ADA);
    expect(await oidc.complete(callback, transaction)).toBe(ADA);
    const audit = await t.ctx.database.db
      .selectFrom('audit_events')
      .select(['actor_type', 'actor_id', 'account_id'])
      .where('action', '=', 'signin.oidc')
      .execute();
    expect(audit).toEqual([{ actor_type: 'account', actor_id: ADA, account_id: ADA }]);
  });

  it('refuses a state that is not the one sent (a forged callback)', async () => {
    const { transaction, callback } = await signInAtProvider(ADA);
    await expect(oidc.complete(callback, { ...transaction, state: 'another-state' })).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
  });

  it('refuses an ID token whose nonce is not the one sent (a replayed token)', async () => {
    const { transaction, callback } = await signInAtProvider(ADA);
    await expect(oidc.complete(callback, { ...transaction, nonce: 'another-nonce' })).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
  });

  it('refuses when the PKCE verifier does not match the challenge (a stolen code)', async () => {
    const { transaction, callback } = await signInAtProvider(ADA);
    await expect(
      oidc.complete(callback, { ...transaction, codeVerifier: randomPKCECodeVerifier() }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('refuses without a transaction, or after it expired', async () => {
    const first = await signInAtProvider(ADA);
    await expect(oidc.complete(first.callback, undefined)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const second = await signInAtProvider(ADA);
    await expect(
      oidc.complete(second.callback, { ...second.transaction, expiresAt: Date.now() - 1 }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('refuses an identity that is no open Custos account', async () => {
    for (const sub of ['no-such-account', CLOSED_ID]) {
      const { transaction, callback } = await signInAtProvider(sub);
      await expect(oidc.complete(callback, transaction)).rejects.toMatchObject({
        code: 'FORBIDDEN',
        message: expect.stringContaining('no open Custos account'),
      });
    }
  });

  it('refuses when the provider says no', async () => {
    const { transaction, callback } = await signInAtProvider(undefined);
    expect(callback.searchParams.get('error')).toBe('access_denied');
    await expect(oidc.complete(callback, transaction)).rejects.toMatchObject({
      code: 'FORBIDDEN',
      message: 'The identity provider did not sign you in.',
    });
  });
});

describe('the callback page', () => {
  it('answers a callback without the transaction cookie with a refusal page and no session', async () => {
    const { callback } = await signInAtProvider(ADA);
    const web = new WebClient(t);
    const res = await web.get(`${callback.pathname}${callback.search}`);
    expect(res.statusCode).toBe(403);
    expect(res.body).toContain('Sign-in refused');
    expect(web.cookies.has(web.sessionCookieName)).toBe(false);
  });

  it('offers the provider on the sign-in page and sends the person there with the transaction cookie', async () => {
    const web = new WebClient(t);
    const login = await web.get('/login?next=/console');
    expect(login.body).toContain(`/login/oidc?next=${encodeURIComponent('/console')}`);
    const start = await web.get('/login/oidc?next=/console');
    expect(start.statusCode).toBe(303);
    expect(start.headers.location).toMatch(new RegExp(`^${idp.issuer}/`));
    const cookie = (
      start.cookies as { name: string; httpOnly?: boolean; sameSite?: string; maxAge?: number }[]
    ).find((c) => c.name === 'custos-oidc');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', maxAge: 600 });
  });
});
