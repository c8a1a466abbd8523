import { randomUUID, scrypt } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ServedApp, serveTestApp } from '../helpers/browser.js';
import { exampleDirectoryWithClients, importExample } from '../helpers/directory.js';

/**
 * Revocation (RFC 7009) and introspection (RFC 7662) authenticate the client with its
 * secret: failed client authentications there are limited like at the token endpoint, on
 * the same budget (README "Failed sign-ins"). Over real HTTP, behind a trusted proxy so
 * that each test can call from addresses of its own.
 */

// Every scrypt call is recorded (and still done), so tests can see which requests paid for one.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, scrypt: vi.fn(actual.scrypt) };
});
const scryptCalls = () => vi.mocked(scrypt).mock.calls;

const LIMIT = 3;
const ADDRESS_LIMIT = 7;
const WINDOW_S = 900;
const SECRET = 'grant-client-secret-0123456789abcdef012345';
const SHARED_SECRET = 'grant-shared-secret-0123456789abcdef012345';
const ENDPOINTS = ['/oauth/revoke', '/oauth/introspect'] as const;
type Endpoint = (typeof ENDPOINTS)[number] | '/oauth/token';
type Kind = 'post' | 'basic';

const CLIENTS = [
  'l-revoke-post',
  'l-revoke-basic',
  'l-introspect-post',
  'l-introspect-basic',
  'l-other',
  'l-order',
  'l-shared',
  'l-odd-basic',
];

let lastOctet = 0;
/** A caller address no other test uses, so per-address counts do not leak between tests. */
const freshAddress = () => `198.51.100.${++lastOctet}`;

let t: ServedApp;

/** An app calls `endpoint` from `address`, authenticating by the body (client_secret_post) or HTTP Basic. */
function call(endpoint: Endpoint, kind: Kind, clientId: string, secret: string, address: string) {
  const form = new URLSearchParams(
    endpoint === '/oauth/token' ? { grant_type: 'client_credentials' } : { token: randomUUID() },
  );
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    'x-forwarded-for': address,
  };
  if (kind === 'basic') {
    const credentials = `${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`;
    headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
  } else {
    form.set('client_id', clientId);
    form.set('client_secret', secret);
  }
  return fetch(`${t.baseUrl}${endpoint}`, { method: 'POST', headers, body: form.toString() });
}

async function expectRefused(res: Response) {
  expect(res.status).toBe(401);
  expect(((await res.json()) as { error: string }).error).toBe('invalid_client');
}

/** 429 in RFC 6749's shape, as /oauth/token answers a limited client: slow_down, Retry-After, never cached. */
async function expectLimited(res: Response) {
  expect(res.status).toBe(429);
  const seconds = Number(res.headers.get('retry-after'));
  expect(Number.isInteger(seconds)).toBe(true);
  expect(seconds).toBeGreaterThan(0);
  expect(seconds).toBeLessThanOrEqual(WINDOW_S);
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(await res.json()).toEqual({ error: 'slow_down', error_description: expect.any(String) });
}

async function expectServed(endpoint: Endpoint, res: Response) {
  expect(res.status).toBe(200);
  // Introspection of a token that is not the app's: inactive, as RFC 7662 §2.2 answers it.
  if (endpoint === '/oauth/introspect') expect(await res.json()).toEqual({ active: false });
  else await res.arrayBuffer();
}

beforeAll(async () => {
  t = await serveTestApp({
    CUSTOS_AUTH_FAILURE_LIMIT: String(LIMIT),
    CUSTOS_AUTH_FAILURE_ADDRESS_LIMIT: String(ADDRESS_LIMIT),
    CUSTOS_AUTH_FAILURE_WINDOW_S: String(WINDOW_S),
    CUSTOS_TRUST_PROXY: 'true',
  });
  await importExample(
    t,
    exampleDirectoryWithClients(CLIENTS, { client: SECRET, shared: SHARED_SECRET }, { redirectUris: true }),
  );
});
afterAll(() => t?.close());
beforeEach(() => {
  vi.mocked(scrypt).mockClear();
});

describe('failed client authentication on revocation and introspection is limited', () => {
  it.each([
    ['/oauth/revoke', 'post'],
    ['/oauth/revoke', 'basic'],
    ['/oauth/introspect', 'post'],
    ['/oauth/introspect', 'basic'],
  ] as const)(
    '%s by client_secret_%s: wrong secrets count, then 429 slow_down even for the right secret',
    async (endpoint, kind) => {
      const clientId = `l-${endpoint.slice('/oauth/'.length)}-${kind}`;
      const attacker = freshAddress();
      for (let i = 0; i < LIMIT; i++)
        await expectRefused(await call(endpoint, kind, clientId, `wrong-${i}`, attacker));
      expect(scryptCalls()).toHaveLength(LIMIT);
      // Over the limit the right secret is refused too, from anywhere: the id is limited, not the guess.
      await expectLimited(await call(endpoint, kind, clientId, 'wrong-again', attacker));
      await expectLimited(await call(endpoint, kind, clientId, SECRET, freshAddress()));
      // Refused before the secret is checked: no scrypt while limited.
      expect(scryptCalls()).toHaveLength(LIMIT);
      // Another client is served at once, from another address.
      await expectServed(endpoint, await call(endpoint, kind, 'l-other', SECRET, freshAddress()));
    },
  );

  it('successes count nothing, and do not reset the failures before them', async () => {
    const address = freshAddress();
    for (const endpoint of [...ENDPOINTS, ...ENDPOINTS])
      await expectServed(endpoint, await call(endpoint, 'post', 'l-order', SECRET, address));
    for (let i = 0; i < LIMIT - 1; i++)
      await expectRefused(
        await call(ENDPOINTS[i % 2] ?? '/oauth/revoke', 'post', 'l-order', 'wrong', address),
      );
    await expectServed('/oauth/revoke', await call('/oauth/revoke', 'basic', 'l-order', SECRET, address));
    await expectRefused(await call('/oauth/introspect', 'basic', 'l-order', 'wrong', address));
    await expectLimited(await call('/oauth/introspect', 'post', 'l-order', SECRET, address));
  });

  it('an unknown client id counts as a failure, and case variants of one id draw on one budget', async () => {
    const address = freshAddress();
    const unknown = `Nobody-${randomUUID()}`;
    for (const id of [unknown, unknown.toLowerCase(), unknown.toUpperCase()])
      await expectRefused(await call('/oauth/revoke', 'post', id, 'wrong', address));
    await expectLimited(await call('/oauth/introspect', 'basic', unknown, 'wrong', freshAddress()));
  });

  it('one address has one budget across client ids, an IPv6 caller by its /64', async () => {
    const spray = '2001:db8:5:6::1';
    for (let i = 0; i < ADDRESS_LIMIT; i++) {
      const endpoint = ENDPOINTS[i % 2] ?? '/oauth/revoke';
      // Every address of the /64 draws on the same budget.
      const address = `2001:db8:5:6::${(i + 1).toString(16)}`;
      await expectRefused(await call(endpoint, 'post', `spray-${randomUUID()}`, 'wrong', address));
    }
    for (const endpoint of ENDPOINTS) {
      await expectLimited(await call(endpoint, 'post', 'l-other', SECRET, spray));
      await expectLimited(await call(endpoint, 'basic', 'l-other', SECRET, '2001:db8:5:6:ffff::9'));
      // The same client from another /64, or another address, is served.
      await expectServed(endpoint, await call(endpoint, 'post', 'l-other', SECRET, '2001:db8:5:7::1'));
      await expectServed(endpoint, await call(endpoint, 'post', 'l-other', SECRET, freshAddress()));
    }
  });

  it('counts a failure against the client the server reads from Basic credentials, however loosely encoded', async () => {
    // The server decodes Basic credentials as Node decodes base64 (white space and the URL-safe
    // alphabet pass) and the parts as form data (+ is a space): so does the count.
    const base64 = Buffer.from('l-odd-basic:wrong+guess').toString('base64');
    const loose = [
      `${base64.slice(0, 4)}\t${base64.slice(4)}`,
      Buffer.from('l-odd-basic:wrong?guess>').toString('base64url'),
      base64,
    ];
    for (const value of loose) {
      const res = await fetch(`${t.baseUrl}/oauth/revoke`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-forwarded-for': freshAddress(),
          authorization: `Basic ${value}`,
        },
        body: new URLSearchParams({ token: randomUUID() }).toString(),
      });
      await expectRefused(res);
    }
    await expectLimited(await call('/oauth/introspect', 'post', 'l-odd-basic', SECRET, freshAddress()));
  });

  it('shares one failure budget per client with the token endpoint', async () => {
    const address = freshAddress();
    await expectRefused(await call('/oauth/token', 'post', 'l-shared', 'wrong', address));
    await expectRefused(await call('/oauth/revoke', 'basic', 'l-shared', 'wrong', freshAddress()));
    await expectRefused(await call('/oauth/introspect', 'post', 'l-shared', 'wrong', freshAddress()));
    for (const endpoint of ['/oauth/token', ...ENDPOINTS] as const)
      await expectLimited(await call(endpoint, 'post', 'l-shared', SECRET, freshAddress()));
  });

  it('answers what Custos refuses before the server in RFC 6749 shape too', async () => {
    for (const endpoint of ENDPOINTS) {
      const res = await fetch(`${t.baseUrl}${endpoint}`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: 'token=x',
      });
      expect(res.status).toBe(415);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.json()).toEqual({
        error: 'invalid_request',
        error_description: 'Content-Type must be application/x-www-form-urlencoded',
      });
    }
  });

  it('logs neither the caller address nor the secret tried', async () => {
    const address = '192.0.2.213';
    const secret = `log-probe-${randomUUID()}`;
    for (const endpoint of ENDPOINTS)
      await expectRefused(await call(endpoint, 'post', 'l-log-probe', secret, address));
    const logs = t.logs.join('\n');
    expect(logs).not.toContain(address);
    expect(logs).not.toContain(secret);
  });
});
