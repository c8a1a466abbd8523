import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSENT_HUB_SCOPE } from '../../src/auth/scopes.js';
import type { ImportFile } from '../../src/directory/import.schemas.js';
import { accessRequest } from '../helpers/access.js';
import { basic, consentClient, createTestApp, type TestApp } from '../helpers/app.js';
import { adminClient, connectJwt, importExample, SECRETS, unsignedJwt } from '../helpers/directory.js';
import { accounts, now, reportWithJwt } from '../helpers/reporting.js';

/**
 * Input no engine can store — U+0000, which PostgreSQL text cannot hold, and unpaired UTF-16
 * surrogates, which have no UTF-8 form — is refused with a 400 naming the field on both
 * engines, wherever it enters: bodies, query strings, paths and credentials.
 */
let t: TestApp;
let consentAuth: string;
let admin: string;

const NUL = '\u0000';
const LONE_HIGH = '\ud800';
const LONE_LOW = '\udc00';

beforeAll(async () => {
  t = await createTestApp();
  await importExample(t);
  consentAuth = (await consentClient(t, 'hub@example.com', [CONSENT_HUB_SCOPE])).authorization;
  admin = await adminClient(t);
});
afterAll(() => t.close());

function expectRefused(res: LightMyRequestResponse, field: string) {
  expect(res.statusCode, res.body).toBe(400);
  expect(res.json()).toEqual({
    errorType: 'VALIDATION_FAILED',
    errorMessage: expect.stringContaining('must not contain U+0000 or an unpaired UTF-16 surrogate'),
    field,
  });
}

const consent = (body: Record<string, unknown>) =>
  t.app.inject({
    method: 'POST',
    url: '/consent-hub/consent',
    headers: { authorization: consentAuth, 'content-type': 'application/json' },
    // JSON.stringify writes lone surrogates as \ud800 escapes: the body is valid JSON.
    payload: JSON.stringify({ email: 'a@example.org', locale: 'US', ...body }),
  });

const getAsAdmin = (url: string) => t.app.inject({ method: 'GET', url, headers: { authorization: admin } });

describe('text no engine can store', () => {
  it.each([
    ['U+0000', `p${NUL}`],
    ['a lone high surrogate', `p${LONE_HIGH}`],
    ['a lone low surrogate', `${LONE_LOW}p`],
    ['a low surrogate before a high one', `${LONE_LOW}${LONE_HIGH}`],
  ])('a consent providerId with %s answers 400 naming providerId', async (_name, providerId) => {
    expectRefused(await consent({ providerId }), 'providerId');
  });

  it('names the field inside arrays, and keeps paired surrogates (emoji) as the text they are', async () => {
    expectRefused(
      await consent({ consents: [{ key: 'generalMarketingOptIn', granted: false, displayedText: NUL }] }),
      'consents.0.displayedText',
    );
    expect((await consent({ providerId: 'p-\ud83d\ude00' })).statusCode).toBe(202);
  });

  it('refuses it in an email before any format check can be confused by it', async () => {
    const res = await consent({ email: `a${NUL}@example.org` });
    expect(res.statusCode).toBe(400);
    expect(res.json().field).toBe('email');
    expect(res.json().errorMessage).toContain('must not contain U+0000');
  });

  it('in a path parameter or a query string answers 400 naming the parameter', async () => {
    expectRefused(await getAsAdmin('/admin/apps/%00'), 'key');
    expectRefused(
      await t.app.inject({
        method: 'POST',
        url: '/admin/installations/x%00/uninstall',
        headers: { authorization: admin },
      }),
      'clientKey',
    );
    expectRefused(await getAsAdmin('/admin/audit-events?action=%00'), 'action');
    expectRefused(await getAsAdmin('/admin/email-access/requests?app=a%00b'), 'app');
  });

  it('a URL whose percent-encoding is not UTF-8 (a lone surrogate as bytes) gets the error shape', async () => {
    const res = await getAsAdmin('/admin/apps/p%ED%A0%80');
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      errorType: 'VALIDATION_FAILED',
      errorMessage: 'The URL is not valid: a percent-encoded sequence is not UTF-8',
      field: 'url',
    });
  });

  it('path parameters as long as their schemas allow reach the route; longer ones get the error shape', async () => {
    const long = (n: number) =>
      t.app.inject({
        method: 'POST',
        url: `/admin/installations/${'k'.repeat(n)}/uninstall`,
        headers: { authorization: admin },
      });
    expect((await long(255)).json()).toMatchObject({ errorType: 'NOT_FOUND' });
    const tooLong = await long(256);
    expect(tooLong.statusCode).toBe(400);
    expect(tooLong.json()).toMatchObject({ errorType: 'VALIDATION_FAILED', field: 'url' });
  });

  it('in HTTP Basic credentials answers 400 naming the credential, not 401 or 500', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/consent-hub/consent-config/get',
      headers: { authorization: basic(`hub${NUL}@example.com`, 'cst_x') },
      payload: {},
    });
    expectRefused(res, 'authorization.email');
  });

  it("in a Connect JWT's iss answers 401 without a valid signature, like any unknown issuer", async () => {
    for (const iss of [NUL, `ts-acme-1${NUL}`, LONE_HIGH]) {
      const at = Math.floor(Date.now() / 1000);
      const res = await t.app.inject({
        method: 'GET',
        url: '/rest/api/3/user?accountId=abc',
        headers: { authorization: `JWT ${unsignedJwt({ iss, iat: at, exp: at + 60, qsh: 'x' })}` },
      });
      expect(res.statusCode, JSON.stringify(iss)).toBe(401);
      expect(res.json().errorType).toBe('UNAUTHENTICATED');
    }
  });

  describe('POST /oauth/token', () => {
    const token = (payload: string, headers: Record<string, string>) =>
      t.app.inject({ method: 'POST', url: '/oauth/token', headers, payload });
    /** Either the RFC 6749 body or the Custos one, naming the field. */
    const expectBadClient = (res: LightMyRequestResponse, field: string) => {
      expect(res.statusCode, res.body).toBe(400);
      const body = res.json();
      const text = body.error_description ?? body.errorMessage;
      expect(body.error ?? body.errorType).toMatch(/invalid_request|VALIDATION_FAILED/);
      expect(text).toContain(field);
      expect(text).toContain('must not contain U+0000');
    };
    const form = { 'content-type': 'application/x-www-form-urlencoded' };

    it('refuses client_id=%00 in a form body', async () => {
      const res = await token('grant_type=client_credentials&client_id=%00&client_secret=s', form);
      expectBadClient(res, 'client_id');
    });

    it('refuses U+0000 and lone surrogates in a JSON body', async () => {
      const json = { 'content-type': 'application/json' };
      for (const [field, value] of [
        ['client_id', `timesheets${NUL}`],
        ['client_secret', LONE_HIGH],
        ['scope', `read:user${NUL}`],
      ] as const) {
        const body = { grant_type: 'client_credentials', client_id: 'x', client_secret: 'y', [field]: value };
        expectBadClient(await token(JSON.stringify(body), json), field);
      }
    });

    it('refuses a client id %00 sent with HTTP Basic', async () => {
      const res = await token('grant_type=client_credentials', {
        ...form,
        authorization: `Basic ${Buffer.from('%00:secret').toString('base64')}`,
      });
      expectBadClient(res, 'client_id');
    });
  });

  it('report-accounts refuses it with its contract body {errorType, errorMessage}', async () => {
    for (const accountId of [`abc${NUL}`, LONE_HIGH]) {
      const res = await reportWithJwt(t, 'ts-acme-1', SECRETS.tsAcme, accounts([accountId, now()]));
      expect(res.statusCode).toBe(400);
      expect(Object.keys(res.json()).sort()).toEqual(['errorMessage', 'errorType']);
      expect(res.json().errorMessage).toContain('accounts[0].accountId');
    }
    const res = await reportWithJwt(t, 'ts-acme-1', SECRETS.tsAcme, {
      accounts: [{ accountId: 'abc', updatedAt: now(), [NUL]: 1 }],
    });
    expect(res.statusCode).toBe(400);
    expect(res.headers['cycle-period']).toBe('15');
  });

  it('an app access request names the field', async () => {
    const url = '/app/email-access-requests';
    const res = await t.app.inject({
      method: 'POST',
      url,
      headers: { authorization: `JWT ${connectJwt('mailer-acme', SECRETS.mailerAcme, 'POST', url)}` },
      payload: accessRequest('com.vendor.mailer', { companyName: `Vendor${NUL}` }),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().errorMessage).toContain('companyName must not contain U+0000');
  });

  it('the admin import and the importer name the record, and store nothing', async () => {
    const file: ImportFile = {
      accounts: [{ accountId: 'nul-1', accountType: 'atlassian', name: `Ada${NUL}` }],
      organizations: [{ id: 'org-nul', name: `Org ${LONE_HIGH}` }],
    };
    const res = await t.app.inject({
      method: 'POST',
      url: '/admin/directory/import',
      headers: { authorization: admin },
      payload: file,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().field).toBe('organizations[0].name');
    expect(res.json().errorMessage).toContain('accounts[0].name: must not contain U+0000');
    await expect(t.ctx.importer.importDirectory(file, { type: 'operator', id: 'test' })).rejects.toThrow(
      /accounts\[0\]\.name: must not contain U\+0000/,
    );
    const stored = await t.ctx.database.db
      .selectFrom('accounts')
      .select('account_id')
      .where('account_id', '=', 'nul-1')
      .execute();
    expect(stored).toEqual([]);
  });
});

describe('values JavaScript cannot represent', () => {
  it('a leap second in a date-time query answers 400 naming it, not 500', async () => {
    for (const from of ['2026-12-31T23:59:60Z', '2026-02-30T00:00:00Z', '2026-12-31T24:00:00Z']) {
      const res = await getAsAdmin(`/admin/audit-events?from=${encodeURIComponent(from)}`);
      expect(res.statusCode, from).toBe(400);
      expect(res.json()).toEqual({
        errorType: 'VALIDATION_FAILED',
        errorMessage:
          'from must be an RFC 3339 date-time of years 0000-9999 (UTC) such as 2026-11-24T09:30:00Z',
        field: 'from',
      });
    }
    expect((await getAsAdmin('/admin/audit-events?from=2026-12-31T23:59:59.999%2B02:00')).statusCode).toBe(
      200,
    );
  });

  it('report-accounts refuses a leap second in updatedAt', async () => {
    const res = await reportWithJwt(
      t,
      'ts-acme-1',
      SECRETS.tsAcme,
      accounts(['5b10ac8d82e05b22cc7d4ef5', '2026-12-31T23:59:60Z']),
    );
    expect(res.statusCode).toBe(400);
    expect(res.json().errorMessage).toContain('accounts[0].updatedAt');
  });

  it.each(['1e309', '-1e309', '1e400', 'Infinity', 'NaN'])(
    'startAt=%s on the bulk user API answers 400 naming startAt',
    async (startAt) => {
      const url = `/rest/api/3/user/bulk?accountId=5b10ac8d82e05b22cc7d4ef5&startAt=${startAt}`;
      const res = await t.app.inject({
        method: 'GET',
        url,
        headers: { authorization: `JWT ${connectJwt('ts-acme-1', SECRETS.tsAcme, 'GET', url)}` },
      });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().field).toBe('startAt');
    },
  );
});

describe('one bad request among many', () => {
  it('every 11th of 300 concurrent consent POSTs carries U+0000: the other 272 get 202', async () => {
    const responses = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        consent({ email: `crowd-${i}@example.org`, providerId: i % 11 === 0 ? `p${NUL}` : `p-${i}` }),
      ),
    );
    const statuses = responses.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 202)).toHaveLength(272);
    expect(statuses.filter((s, i) => s === 400 && i % 11 === 0)).toHaveLength(28);
    const stored = await t.ctx.database.db
      .selectFrom('consent_requests')
      .select('email')
      .where('email', 'like', 'crowd-%')
      .execute();
    expect(stored).toHaveLength(272);
  });

  it('two concurrent imports claiming the same new email answer 200 and 400 naming the email', async () => {
    for (let round = 0; round < 8; round += 1) {
      const claim = (accountId: string) =>
        t.app.inject({
          method: 'POST',
          url: '/admin/directory/import',
          headers: { authorization: admin },
          payload: {
            accounts: [{ accountId, accountType: 'atlassian', email: `claimed-${round}@example.org` }],
          },
        });
      const results = await Promise.all([claim(`claim-a-${round}`), claim(`claim-b-${round}`)]);
      const statuses = results.map((r) => r.statusCode).sort();
      expect(statuses, results.map((r) => r.body).join('\n')).toEqual([200, 400]);
      const refused = results.find((r) => r.statusCode === 400);
      expect(refused?.json()).toMatchObject({
        errorType: 'VALIDATION_FAILED',
        field: 'accounts[0].email',
        errorMessage: 'accounts[0].email: already belongs to another account',
      });
    }
  });

  it('two concurrent imports creating the same new account both succeed', async () => {
    for (let round = 0; round < 8; round += 1) {
      const file: ImportFile = {
        accounts: [
          { accountId: `same-${round}`, accountType: 'customer', email: `same-${round}@example.org` },
        ],
      };
      const results = await Promise.all([importExample(t, file), importExample(t, file)]);
      expect(results.map((r) => r.accounts.created).sort()).toEqual([0, 1]);
    }
  });
});
