import { createQueryStringHash, encodeSymmetric, fromMethodAndUrl } from 'atlassian-jwt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import {
  ADA,
  adminClient,
  connectJwt,
  getAsInstallation,
  getWithBearer,
  importExample,
  oauthToken,
  SECRETS,
  userUrl,
} from '../helpers/directory.js';

let t: TestApp;
const url = userUrl(ADA);

beforeAll(async () => {
  t = await createTestApp();
  await importExample(t);
});
afterAll(() => t.close());

const withJwt = (token: string, path = url) =>
  t.app.inject({ method: 'GET', url: path, headers: { authorization: `JWT ${token}` } });

describe('Connect JWT', () => {
  it('accepts a token signed by atlassian-jwt with the right qsh', async () => {
    const res = await getAsInstallation(t, 'ts-acme-1', SECRETS.tsAcme, url);
    expect(res.statusCode).toBe(200);
    expect(res.json().accountId).toBe(ADA);
  });

  it('binds qsh to the canonical request: parameter order does not matter, values do', async () => {
    const bulk = `/rest/api/3/user/bulk?accountId=${ADA}&maxResults=5`;
    const reordered = `/rest/api/3/user/bulk?maxResults=5&accountId=${ADA}`;
    const token = connectJwt('ts-acme-1', SECRETS.tsAcme, 'GET', bulk);
    expect((await withJwt(token, reordered)).statusCode).toBe(200);
    expect((await withJwt(token, `/rest/api/3/user/bulk?accountId=${ADA}&maxResults=6`)).statusCode).toBe(
      401,
    );
  });

  it.each([
    ['a wrong qsh', () => connectJwt('ts-acme-1', SECRETS.tsAcme, 'GET', userUrl('someone-else'))],
    ['a qsh for another method', () => connectJwt('ts-acme-1', SECRETS.tsAcme, 'POST', url)],
    ['no qsh', () => connectJwt('ts-acme-1', SECRETS.tsAcme, 'GET', url, { qsh: undefined })],
    ['a wrong secret', () => connectJwt('ts-acme-1', SECRETS.tsGlobex, 'GET', url)],
    ['another installation’s secret', () => connectJwt('ts-acme-1', SECRETS.mailerAcme, 'GET', url)],
    [
      'an expired token (beyond the clock skew)',
      () => {
        const now = Math.floor(Date.now() / 1000);
        return connectJwt('ts-acme-1', SECRETS.tsAcme, 'GET', url, { iat: now - 300, exp: now - 60 });
      },
    ],
    ['no exp', () => connectJwt('ts-acme-1', SECRETS.tsAcme, 'GET', url, { exp: undefined })],
    [
      'a token issued in the future',
      () => {
        const now = Math.floor(Date.now() / 1000);
        return connectJwt('ts-acme-1', SECRETS.tsAcme, 'GET', url, { iat: now + 600, exp: now + 780 });
      },
    ],
    ['an unknown issuer', () => connectJwt('nobody', SECRETS.tsAcme, 'GET', url)],
    [
      'an acting user that is not an accountId',
      () => connectJwt('ts-acme-1', SECRETS.tsAcme, 'GET', url, { sub: 'a b' }),
    ],
    [
      'alg none',
      () => {
        const now = Math.floor(Date.now() / 1000);
        const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
        const qsh = createQueryStringHash(fromMethodAndUrl('GET', url));
        return `${part({ alg: 'none', typ: 'JWT' })}.${part({ iss: 'ts-acme-1', iat: now, exp: now + 60, qsh })}.`;
      },
    ],
    [
      'HS512 with the right secret',
      () => {
        const now = Math.floor(Date.now() / 1000);
        const qsh = createQueryStringHash(fromMethodAndUrl('GET', url));
        return encodeSymmetric(
          { iss: 'ts-acme-1', iat: now, exp: now + 60, qsh },
          SECRETS.tsAcme,
          'HS512' as never,
        );
      },
    ],
    ['garbage', () => 'not.a.jwt'],
  ])('refuses %s with 401', async (_name, make) => {
    const res = await withJwt(make());
    expect(res.statusCode).toBe(401);
    expect(res.json().errorType).toBe('UNAUTHENTICATED');
    expect(res.headers['www-authenticate']).toContain('JWT');
  });

  it('tolerates a small clock skew', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = connectJwt('ts-acme-1', SECRETS.tsAcme, 'GET', url, { iat: now - 200, exp: now - 10 });
    expect((await withJwt(token)).statusCode).toBe(200);
  });

  it('refuses requests without credentials, with Basic credentials, or with an unknown scheme', async () => {
    expect((await t.app.inject({ method: 'GET', url })).statusCode).toBe(401);
    const basic = await t.app.inject({
      method: 'GET',
      url,
      headers: { authorization: await adminClient(t) },
    });
    expect(basic.statusCode).toBe(401);
    const other = await t.app.inject({ method: 'GET', url, headers: { authorization: 'Token abc' } });
    expect(other.statusCode).toBe(401);
  });

  it('stops accepting an installation’s tokens once it is uninstalled, and accepts them after a reinstall', async () => {
    const admin = await adminClient(t);
    const res = await t.app.inject({
      method: 'POST',
      url: '/admin/installations/reporter-acme/uninstall',
      headers: { authorization: admin },
    });
    expect(res.statusCode).toBe(204);
    const secret = 'reporter-acme-shared-secret-0123456789abcd';
    expect((await getAsInstallation(t, 'reporter-acme', secret, url)).statusCode).toBe(401);
    await importExample(t);
    expect((await getAsInstallation(t, 'reporter-acme', secret, url)).statusCode).toBe(200);
  });
});

describe('OAuth 2.0 client credentials', () => {
  it('issues a short-lived bearer token bound to the granted scopes, from a form or JSON body', async () => {
    const form = await t.app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: 'timesheets',
        client_secret: SECRETS.timesheetsClient,
        scope: 'read:user',
      }).toString(),
    });
    expect(form.statusCode).toBe(200);
    expect(form.headers['cache-control']).toBe('no-store');
    expect(form.json()).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'read:user' });
    expect((await getWithBearer(t, form.json().access_token, url)).statusCode).toBe(200);

    const json = await t.app.inject({
      method: 'POST',
      url: '/oauth/token',
      payload: {
        grant_type: 'client_credentials',
        client_id: 'timesheets',
        client_secret: SECRETS.timesheetsClient,
      },
    });
    expect(json.json().scope.split(' ').sort()).toEqual(['read:user', 'report:personal-data']);
  });

  it('accepts client authentication by HTTP Basic', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { authorization: `Basic ${Buffer.from(`mailer:${SECRETS.mailerClient}`).toString('base64')}` },
      payload: { grant_type: 'client_credentials' },
    });
    expect(res.statusCode).toBe(200);
  });

  it.each([
    ['a wrong secret', { client_id: 'timesheets', client_secret: 'wrong' }, 401, 'invalid_client'],
    [
      'an unknown client',
      { client_id: 'nobody', client_secret: SECRETS.timesheetsClient },
      401,
      'invalid_client',
    ],
    ['no credentials', {}, 401, 'invalid_client'],
    [
      'a scope the client may not have',
      { client_id: 'mailer', client_secret: SECRETS.mailerClient, scope: 'report:personal-data' },
      400,
      'invalid_scope',
    ],
    [
      'another grant type',
      { grant_type: 'password', client_id: 'mailer', client_secret: SECRETS.mailerClient },
      400,
      'unsupported_grant_type',
    ],
    ['a malformed body', { client_id: 42 }, 400, 'invalid_request'],
  ])('refuses %s', async (_name, body, status, error) => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/oauth/token',
      payload: { grant_type: 'client_credentials', ...body },
    });
    expect(res.statusCode).toBe(status);
    expect(res.json().error).toBe(error);
  });

  it('answers 403 to a valid token without read:user', async () => {
    const reporter = await oauthToken(t, 'reporter', SECRETS.readerClient);
    const res = await getWithBearer(t, reporter, url);
    expect(res.statusCode).toBe(403);
    expect(res.json().errorType).toBe('FORBIDDEN');
    const narrowed = await oauthToken(t, 'timesheets', SECRETS.timesheetsClient, 'report:personal-data');
    expect((await getWithBearer(t, narrowed, url)).statusCode).toBe(403);
  });

  it('refuses tampered, foreign and Connect-signed tokens as bearer tokens', async () => {
    const token = await oauthToken(t, 'timesheets', SECRETS.timesheetsClient);
    const [h, p, s] = token.split('.');
    const payload = JSON.parse(Buffer.from(p ?? '', 'base64url').toString());
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...payload, app: 'com.vendor.mailer' })).toString('base64url')}.${s}`;
    expect((await getWithBearer(t, forged, url)).statusCode).toBe(401);
    const connect = connectJwt('ts-acme-1', SECRETS.tsAcme, 'GET', url);
    expect((await getWithBearer(t, connect, url)).statusCode).toBe(401);
    // A bearer token is not a Connect JWT either.
    expect((await withJwt(token)).statusCode).toBe(401);
  });

  it('refuses an expired token', async () => {
    const short = await createTestApp({ CUSTOS_OAUTH_TOKEN_TTL_S: '60' });
    try {
      await importExample(short);
      const token = await oauthToken(short, 'timesheets', SECRETS.timesheetsClient);
      expect((await getWithBearer(short, token, url)).statusCode).toBe(200);
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + 61_000);
      try {
        expect((await getWithBearer(short, token, url)).statusCode).toBe(401);
      } finally {
        vi.useRealTimers();
      }
    } finally {
      await short.close();
    }
  });

  it('invalidates tokens when the client secret is rotated', async () => {
    const token = await oauthToken(t, 'mailer', SECRETS.mailerClient);
    const { exampleDirectory } = await import('../helpers/directory.js');
    const file = exampleDirectory();
    const mailer = file.apps?.find((a) => a.key === 'com.vendor.mailer');
    if (!mailer?.oauth) throw new Error('fixture');
    mailer.oauth.clientSecret = 'rotated-mailer-client-secret-0123456789ab';
    await importExample(t, file);
    try {
      expect((await getWithBearer(t, token, url)).statusCode).toBe(401);
      const rotated = await oauthToken(t, 'mailer', mailer.oauth.clientSecret);
      expect((await getWithBearer(t, rotated, url)).statusCode).toBe(200);
    } finally {
      await importExample(t);
    }
  });

  it('refuses tokens of an app that is no longer installed anywhere (401), and issues none', async () => {
    const token = await oauthToken(t, 'mailer', SECRETS.mailerClient);
    const admin = await adminClient(t);
    const uninstalled = await t.app.inject({
      method: 'POST',
      url: '/admin/installations/mailer-acme/uninstall',
      headers: { authorization: admin },
    });
    expect(uninstalled.statusCode).toBe(204);
    try {
      expect((await getWithBearer(t, token, url)).statusCode).toBe(401);
      const res = await t.app.inject({
        method: 'POST',
        url: '/oauth/token',
        payload: {
          grant_type: 'client_credentials',
          client_id: 'mailer',
          client_secret: SECRETS.mailerClient,
        },
      });
      expect(res.statusCode).toBe(401);
    } finally {
      await importExample(t);
    }
  });
});
