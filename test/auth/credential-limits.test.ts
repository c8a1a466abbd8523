import { randomBytes, randomUUID, scrypt } from 'node:crypto';
import { once } from 'node:events';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { addressBucket, CredentialLimiter } from '../../src/auth/credential-limiter.js';
import { CONSENT_HUB_SCOPE } from '../../src/auth/scopes.js';
import { basic, createTestApp, createToken, type TestApp } from '../helpers/app.js';
import {
  ADA,
  connectJwt,
  exampleDirectoryWithClients,
  importExample,
  SECRETS,
  userUrl,
} from '../helpers/directory.js';

// Every scrypt call is recorded (and still done), so tests can see which requests paid for one.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, scrypt: vi.fn(actual.scrypt) };
});
const scryptCalls = () => vi.mocked(scrypt).mock.calls;

const LIMIT = 3;
const ADDRESS_LIMIT = 7;
const WINDOW_S = 900;
const CLIENT_SECRET = 'extra-client-secret-0123456789abcdef012345';
const SHARED_SECRET = 'extra-shared-secret-0123456789abcdef012345';
const url = userUrl(ADA);

/** A caller address no other test uses, so per-address counts do not leak between tests. */
let lastOctet = 0;
const freshAddress = () => `198.51.100.${++lastOctet}`;

type Kind = 'form' | 'json' | 'basic';

function tokenRequest(t: TestApp, kind: Kind, clientId: string, secret: string, remoteAddress: string) {
  const base = { method: 'POST' as const, url: '/oauth/token', remoteAddress };
  if (kind === 'form')
    return t.app.inject({
      ...base,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: clientId,
        client_secret: secret,
      }).toString(),
    });
  if (kind === 'json')
    return t.app.inject({
      ...base,
      payload: { grant_type: 'client_credentials', client_id: clientId, client_secret: secret },
    });
  return t.app.inject({
    ...base,
    headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` },
    payload: { grant_type: 'client_credentials' },
  });
}

function consentCall(
  t: TestApp,
  authorization: string,
  remoteAddress: string,
  headers: Record<string, string> = {},
) {
  return t.app.inject({
    method: 'POST',
    url: '/consent-hub/consent-config/get',
    remoteAddress,
    headers: { authorization, ...headers },
    payload: { email: 'someone@example.com' },
  });
}

function jwtCall(t: TestApp, clientKey: string, secret: string, remoteAddress: string, claims = {}) {
  return t.app.inject({
    method: 'GET',
    url,
    remoteAddress,
    headers: { authorization: `JWT ${connectJwt(clientKey, secret, 'GET', url, claims)}` },
  });
}

function expectRetryAfter(res: { headers: Record<string, unknown> }) {
  const seconds = Number(res.headers['retry-after']);
  expect(Number.isInteger(seconds)).toBe(true);
  expect(seconds).toBeGreaterThan(0);
  expect(seconds).toBeLessThanOrEqual(WINDOW_S);
}

const limitEnv = {
  CUSTOS_AUTH_FAILURE_LIMIT: String(LIMIT),
  CUSTOS_AUTH_FAILURE_ADDRESS_LIMIT: String(ADDRESS_LIMIT),
  CUSTOS_AUTH_FAILURE_WINDOW_S: String(WINDOW_S),
  // Long enough that a token checked once is still remembered when a test relies on it.
  CUSTOS_AUTH_CACHE_MS: '60000',
};

describe('failed sign-ins are limited (one process, in memory)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(limitEnv);
    await importExample(
      t,
      exampleDirectoryWithClients(['c-form', 'c-json', 'c-basic', 'c-order', 'c-known', 'c-other'], {
        client: CLIENT_SECRET,
        shared: SHARED_SECRET,
      }),
    );
  });
  afterAll(() => t.close());
  beforeEach(() => {
    vi.mocked(scrypt).mockClear();
  });

  it.each([
    ['form', 'c-form'],
    ['json', 'c-json'],
    ['basic', 'c-basic'],
  ] as const)(
    'OAuth client_secret by %s: 429 slow_down with Retry-After after the failures, and no scrypt once limited',
    async (kind, clientId) => {
      const attacker = freshAddress();
      for (let i = 0; i < LIMIT; i++) {
        const res = await tokenRequest(t, kind, clientId, `wrong-${i}`, attacker);
        expect(res.statusCode).toBe(401);
        expect(res.json().error).toBe('invalid_client');
      }
      expect(scryptCalls()).toHaveLength(LIMIT);
      // Over the limit the right secret is refused too, from anywhere: the id is limited, not the guess.
      for (const secret of ['wrong-again', CLIENT_SECRET]) {
        const res = await tokenRequest(
          t,
          kind,
          clientId,
          secret,
          secret === CLIENT_SECRET ? freshAddress() : attacker,
        );
        expect(res.statusCode).toBe(429);
        expectRetryAfter(res);
        expect(res.headers['cache-control']).toBe('no-store');
        expect(res.json()).toEqual({ error: 'slow_down', error_description: expect.any(String) });
      }
      expect(scryptCalls()).toHaveLength(LIMIT);
      // Another client signs in at once while this one is limited.
      expect((await tokenRequest(t, kind, 'c-other', CLIENT_SECRET, freshAddress())).statusCode).toBe(200);
    },
  );

  it('successes consume nothing, and do not reset the failures before them', async () => {
    const address = freshAddress();
    for (let i = 0; i < LIMIT * 3; i++)
      expect((await tokenRequest(t, 'json', 'c-order', CLIENT_SECRET, address)).statusCode).toBe(200);
    for (let i = 0; i < LIMIT - 1; i++)
      expect((await tokenRequest(t, 'json', 'c-order', 'wrong', address)).statusCode).toBe(401);
    expect((await tokenRequest(t, 'json', 'c-order', CLIENT_SECRET, address)).statusCode).toBe(200);
    expect((await tokenRequest(t, 'json', 'c-order', 'wrong', address)).statusCode).toBe(401);
    expect((await tokenRequest(t, 'json', 'c-order', CLIENT_SECRET, address)).statusCode).toBe(429);
  });

  it('an unknown client id costs the same scrypt as a known one with a wrong secret', async () => {
    const address = freshAddress();
    expect((await tokenRequest(t, 'json', 'c-known', 'wrong', address)).statusCode).toBe(401);
    expect((await tokenRequest(t, 'json', `nobody-${randomUUID()}`, 'wrong', address)).statusCode).toBe(401);
    // Same work: the same parameters (N, r, p), key length and salt length.
    const [known, unknown] = scryptCalls().map(([, salt, keyLength, options]) => ({
      saltLength: (salt as Buffer).length,
      keyLength,
      options,
    }));
    expect(scryptCalls()).toHaveLength(2);
    expect(unknown).toEqual(known);
    expect(known?.options).toMatchObject({ N: 16_384 });
  });

  it('case variants of a client id draw on one budget', async () => {
    const address = freshAddress();
    for (const id of ['Mixed-Case', 'mixed-case', 'MIXED-CASE'])
      expect((await tokenRequest(t, 'json', id, 'wrong', address)).statusCode).toBe(401);
    expect((await tokenRequest(t, 'json', 'mIxEd-CaSe', 'wrong', address)).statusCode).toBe(429);
  });

  it('HTTP Basic API tokens: 429 RATE_LIMITED with Retry-After per email (normalised), while other clients are served', async () => {
    const victim = await createToken(t, {
      email: 'victim@example.com',
      scopes: [CONSENT_HUB_SCOPE],
    });
    const other = await createToken(t, {
      email: 'other@example.com',
      scopes: [CONSENT_HUB_SCOPE],
    });
    const attacker = freshAddress();
    const variants = ['victim@example.com', 'Victim@Example.com', ' VICTIM@example.com'];
    for (const email of variants) {
      const res = await consentCall(
        t,
        basic(email, `cst_${randomBytes(32).toString('base64url')}`),
        attacker,
      );
      expect(res.statusCode).toBe(401);
    }
    for (const address of [attacker, freshAddress()]) {
      const res = await consentCall(t, basic('victim@example.com', victim.token), address);
      expect(res.statusCode).toBe(429);
      expectRetryAfter(res);
      expect(res.json()).toEqual({ errorType: 'RATE_LIMITED', errorMessage: expect.any(String) });
    }
    expect((await consentCall(t, basic('other@example.com', other.token), freshAddress())).statusCode).toBe(
      200,
    );
  });

  it('a token verified moments ago is answered from memory, not held up by failures since', async () => {
    const busy = await createToken(t, {
      email: 'busy@example.com',
      scopes: [CONSENT_HUB_SCOPE],
    });
    const address = freshAddress();
    expect((await consentCall(t, basic('busy@example.com', busy.token), address)).statusCode).toBe(200);
    for (let i = 0; i < LIMIT; i++)
      expect(
        (await consentCall(t, basic('busy@example.com', 'not-a-token'), freshAddress())).statusCode,
      ).toBe(401);
    expect((await consentCall(t, basic('busy@example.com', 'not-a-token'), freshAddress())).statusCode).toBe(
      429,
    );
    expect((await consentCall(t, basic('busy@example.com', busy.token), address)).statusCode).toBe(200);
  });

  it('Connect JWT: bad signatures count per issuer; 429 even for a valid token; other installations are served', async () => {
    const attacker = freshAddress();
    for (let i = 0; i < LIMIT; i++)
      expect((await jwtCall(t, 'c-json-acme', `guess-${i}-${SHARED_SECRET}`, attacker)).statusCode).toBe(401);
    const res = await jwtCall(t, 'c-json-acme', SHARED_SECRET, freshAddress());
    expect(res.statusCode).toBe(429);
    expectRetryAfter(res);
    expect(res.json()).toEqual({ errorType: 'RATE_LIMITED', errorMessage: expect.any(String) });
    expect((await jwtCall(t, 'c-form-acme', SHARED_SECRET, freshAddress())).statusCode).toBe(200);
  });

  it('Connect JWT: a signed but expired token is not a guess and does not count', async () => {
    const address = freshAddress();
    const now = Math.floor(Date.now() / 1000);
    for (let i = 0; i < LIMIT * 2; i++) {
      const res = await jwtCall(t, 'c-basic-acme', SHARED_SECRET, address, {
        iat: now - 600,
        exp: now - 300,
      });
      expect(res.statusCode).toBe(401);
    }
    expect((await jwtCall(t, 'c-basic-acme', SHARED_SECRET, address)).statusCode).toBe(200);
  });

  it('one address has one budget across every credential kind and key', async () => {
    const spray = freshAddress();
    const failures = [
      () => tokenRequest(t, 'json', `spray-${randomUUID()}`, 'wrong', spray),
      () => consentCall(t, basic(`spray-${randomUUID()}@example.com`, 'wrong'), spray),
      () => jwtCall(t, `spray-${randomUUID()}`, SHARED_SECRET, spray),
    ];
    for (let i = 0; i < ADDRESS_LIMIT; i++) expect((await failures[i % 3]?.())?.statusCode).toBe(401);
    const limited = await tokenRequest(t, 'json', 'mailer', SECRETS.mailerClient, spray);
    expect(limited.statusCode).toBe(429);
    expectRetryAfter(limited);
    expect((await jwtCall(t, 'ts-acme-1', SECRETS.tsAcme, spray)).statusCode).toBe(429);
    // The same credentials from another address are served.
    expect((await tokenRequest(t, 'json', 'mailer', SECRETS.mailerClient, freshAddress())).statusCode).toBe(
      200,
    );
    expect((await jwtCall(t, 'ts-acme-1', SECRETS.tsAcme, freshAddress())).statusCode).toBe(200);
  });

  it('counts the socket address, not a forged X-Forwarded-For, when the proxy is not trusted', async () => {
    const socket = freshAddress();
    for (let i = 0; i < ADDRESS_LIMIT; i++) {
      const res = await consentCall(t, basic(`xff-${i}@example.com`, 'wrong'), socket, {
        'x-forwarded-for': `203.0.113.${i + 1}`,
      });
      expect(res.statusCode).toBe(401);
    }
    const res = await consentCall(t, basic('xff-new@example.com', 'wrong'), socket, {
      'x-forwarded-for': '203.0.113.200',
    });
    expect(res.statusCode).toBe(429);
  });

  it('logs neither the caller address nor the email', async () => {
    const address = '192.0.2.213';
    // Both are refused by the credential checks, the code that sees the address and the email.
    expect((await consentCall(t, basic('log-probe@example.com', 'wrong'), address)).statusCode).toBe(401);
    expect((await tokenRequest(t, 'json', 'log-probe-client', 'wrong', address)).statusCode).toBe(401);
    const logs = t.logs.join('\n');
    expect(logs).not.toContain(address);
    expect(logs).not.toContain('log-probe@example.com');
  });

  it('documents 429 on the routes that check a guessable credential', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const schemaOf = (operation: {
      responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
    }) => operation.responses['429']?.content?.['application/json']?.schema;
    for (const operation of [doc.paths['/consent-hub/consent'].post, doc.paths['/rest/api/3/user'].get])
      expect(schemaOf(operation)).toMatchObject({ required: ['errorType', 'errorMessage'] });
    // /oauth/token answers in RFC 6749's shape, whose code for too many attempts is slow_down.
    expect(schemaOf(doc.paths['/oauth/token'].post)).toMatchObject({
      properties: { error: { enum: expect.arrayContaining(['slow_down']) } },
    });
  });
});

describe('behind a trusted proxy', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ ...limitEnv, CUSTOS_TRUST_PROXY: 'true' });
  });
  afterAll(() => t.close());

  it('counts the client address the proxy reports, so clients behind one proxy do not share a budget', async () => {
    const proxy = '10.0.0.1';
    const call = (email: string, client: string) =>
      consentCall(t, basic(email, 'wrong'), proxy, { 'x-forwarded-for': client });
    for (let i = 0; i < ADDRESS_LIMIT; i++)
      expect((await call(`p-${i}@example.com`, '203.0.113.9')).statusCode).toBe(401);
    expect((await call('p-new@example.com', '203.0.113.9')).statusCode).toBe(429);
    expect((await call('p-new@example.com', '203.0.113.10')).statusCode).toBe(401);
  });
});

describe('the address a caller is counted by', () => {
  it('is the IPv4 address, the IPv4 address inside an IPv4-mapped IPv6 one, or the IPv6 /64', () => {
    expect(addressBucket('203.0.113.5')).toBe('203.0.113.5');
    expect(addressBucket('::ffff:203.0.113.5')).toBe('203.0.113.5');
    expect(addressBucket('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(addressBucket('2001:db8:1:2:ffff:eeee:dddd:9')).toBe('2001:db8:1:2::/64');
    expect(addressBucket('2001:db8:1:3::1')).not.toBe(addressBucket('2001:db8:1:2::1'));
  });
});

describe('the check on every call, with counts in memory', () => {
  it('reads no count until a failure, limits after failures, and reads none again a window after the last', async () => {
    const limits = { perKey: 2, perAddress: 10, windowSeconds: 1 };
    const limiter = new CredentialLimiter(limits, { redis: undefined, prefix: 'test:' }, randomBytes(32));
    const reads = vi.spyOn(RateLimiterMemory.prototype, 'get');
    try {
      await limiter.check('oauth-client', 'client-a', '203.0.113.5');
      expect(reads).not.toHaveBeenCalled();

      await limiter.recordFailure('oauth-client', 'client-a', '203.0.113.5');
      await limiter.check('oauth-client', 'client-a', '203.0.113.5');
      expect(reads).toHaveBeenCalledTimes(2);
      await limiter.recordFailure('oauth-client', 'client-a', '203.0.113.5');
      await expect(limiter.check('oauth-client', 'client-a', '198.51.100.7')).rejects.toMatchObject({
        code: 'RATE_LIMITED',
      });

      await new Promise((resolve) => setTimeout(resolve, 1100));
      reads.mockClear();
      await limiter.check('oauth-client', 'client-a', '203.0.113.5');
      expect(reads).not.toHaveBeenCalled();
    } finally {
      reads.mockRestore();
    }
  });
});

describe('failed sign-ins shared through Redis', () => {
  // Two Custos instances (as two processes would be) with one master key and one Redis.
  const prefix = `custos-test:${randomUUID()}:`;
  const env = {
    ...limitEnv,
    CUSTOS_REDIS_URL: process.env.CUSTOS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    CUSTOS_REDIS_KEY_PREFIX: prefix,
    CUSTOS_SECRET_KEY: randomBytes(32).toString('base64'),
  };
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await createTestApp(env);
    b = await createTestApp(env);
    for (const t of [a, b]) {
      await importExample(t);
      const redis = t.ctx.redis;
      if (redis && redis.status !== 'ready') await once(redis, 'ready');
    }
  });
  afterAll(async () => {
    const redis = a.ctx.redis;
    if (redis) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
    }
    await a.close();
    await b.close();
  });

  it('counts failures at every instance against the same client id', async () => {
    const address = freshAddress();
    const apps = [a, b, a];
    for (const t of apps)
      expect((await tokenRequest(t, 'json', 'timesheets', 'wrong', address)).statusCode).toBe(401);
    const res = await tokenRequest(b, 'json', 'timesheets', SECRETS.timesheetsClient, freshAddress());
    expect(res.statusCode).toBe(429);
    expectRetryAfter(res);
    expect((await tokenRequest(a, 'json', 'mailer', SECRETS.mailerClient, freshAddress())).statusCode).toBe(
      200,
    );
  });

  it('shares the per-address budget too, and keeps neither emails nor addresses in Redis', async () => {
    const address = '192.0.2.77';
    for (let i = 0; i < ADDRESS_LIMIT; i++) {
      const t = i % 2 === 0 ? a : b;
      expect((await consentCall(t, basic(`redis-${i}@example.com`, 'wrong'), address)).statusCode).toBe(401);
    }
    expect((await jwtCall(b, 'ts-acme-1', SECRETS.tsAcme, address)).statusCode).toBe(429);
    const keys = (await a.ctx.redis?.keys(`${prefix}*`)) ?? [];
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).not.toContain('@');
      expect(key).not.toContain(address);
      expect(key).not.toContain('timesheets');
    }
  });
});

describe('while Redis is unreachable', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ ...limitEnv, CUSTOS_REDIS_URL: 'redis://127.0.0.1:1' });
    await importExample(t);
  });
  afterAll(() => t.close());

  it('signs callers in and limits failures in memory', async () => {
    const address = freshAddress();
    expect((await tokenRequest(t, 'json', 'mailer', SECRETS.mailerClient, address)).statusCode).toBe(200);
    for (let i = 0; i < LIMIT; i++)
      expect((await tokenRequest(t, 'json', 'timesheets', 'wrong', address)).statusCode).toBe(401);
    const res = await tokenRequest(t, 'json', 'timesheets', SECRETS.timesheetsClient, freshAddress());
    expect(res.statusCode).toBe(429);
    expectRetryAfter(res);
  });
});
