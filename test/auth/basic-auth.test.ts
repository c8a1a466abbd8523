import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeToken } from '../../src/auth/api-token.repository.js';
import { ADMIN_SCOPE, API_CLIENT_SCOPE_NAMES, CONSENT_HUB_SCOPE } from '../../src/auth/scopes.js';
import {
  basic,
  consentClient,
  createTestApp,
  createToken,
  TEST_OPERATOR,
  type TestApp,
} from '../helpers/app.js';
import { until } from '../helpers/wait.js';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const routes = ['/consent-hub/consent', '/consent-hub/consent-config/get'];
const validBody = { email: 'user@example.com', locale: 'US', consents: [] };

function call(url: string, authorization?: string) {
  return t.app.inject({
    method: 'POST',
    url,
    headers: authorization === undefined ? {} : { authorization },
    payload: url.endsWith('/get') ? {} : validBody,
  });
}

describe('HTTP Basic API tokens', () => {
  it('creates prefixed, high-entropy tokens and stores only their hash', async () => {
    const { token } = await consentClient(t, 'hash@example.com');
    expect(token).toMatch(/^cst_[A-Za-z0-9_-]{43}$/);
    const rows = await t.ctx.database.db.selectFrom('api_tokens').selectAll().execute();
    for (const row of rows) {
      expect(JSON.stringify(row)).not.toContain(token);
      expect(JSON.stringify(row)).not.toContain(token.slice(16));
    }
  });

  describe.each(routes)('%s', (url) => {
    const unauthorized = async (authorization?: string) => {
      const res = await call(url, authorization);
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Basic realm="custos"');
      expect(res.json().errorType).toBe('UNAUTHENTICATED');
    };

    it('401 without credentials', () => unauthorized());
    it('401 for a non-Basic scheme', () => unauthorized('Bearer abc'));
    it('401 for garbage Basic credentials', () => unauthorized('Basic !!!'));
    it('401 for Basic credentials without a colon', () =>
      unauthorized(`Basic ${Buffer.from('nocolon').toString('base64')}`));
    it('401 for an unknown token', () => unauthorized(basic('client@example.com', `cst_${'A'.repeat(43)}`)));

    it('401 when the token belongs to another email, also just after its owner used it', async () => {
      const { token } = await consentClient(t, 'owner@example.com');
      await unauthorized(basic('someone-else@example.com', token));
      // The owner's header is now remembered; the same token under another email is not it.
      expect((await call(url, basic('owner@example.com', token))).statusCode).toBeLessThan(300);
      await unauthorized(basic('someone-else@example.com', token));
    });

    it('401 for a revoked token', async () => {
      const { token, tokenId } = await consentClient(t, 'revoked@example.com');
      expect((await call(url, basic('revoked@example.com', token))).statusCode).not.toBe(401);
      await t.ctx.apiClients.revokeToken(tokenId, TEST_OPERATOR);
      await unauthorized(basic('revoked@example.com', token));
    });

    it('403 for a valid client without the ConsentHub scope', async () => {
      const { token } = await createToken(t, {
        email: 'noscope@example.com',
        scopes: [ADMIN_SCOPE],
      });
      const res = await call(url, basic('noscope@example.com', token));
      expect(res.statusCode).toBe(403);
      expect(res.json().errorType).toBe('FORBIDDEN');
    });

    it('accepts the email case-insensitively', async () => {
      const { token } = await consentClient(t, 'case@example.com');
      expect((await call(url, basic('CASE@Example.com', token))).statusCode).toBeLessThan(300);
    });
  });

  it('records when a token was last used', async () => {
    const { token, tokenId } = await consentClient(t, 'lastused@example.com');
    const before = (await t.ctx.apiClients.listTokens()).find((r) => r.id === tokenId);
    expect(before?.lastUsedAt).toBeNull();
    expect((await call(routes[1] as string, basic('lastused@example.com', token))).statusCode).toBe(200);
    // The touch is not awaited by the request (it must never wait for a write lock).
    await until(async () => (await t.ctx.apiClients.listTokens()).find((r) => r.id === tokenId)?.lastUsedAt, {
      message: "the token's last use to be recorded",
    });
  });

  it('grants further scopes to an existing client and keeps its earlier tokens', async () => {
    const first = await createToken(t, {
      email: 'grow@example.com',
      scopes: [ADMIN_SCOPE],
    });
    const second = await createToken(t, {
      email: 'GROW@example.com',
      scopes: ['manage:consent-hub-consent'],
    });
    expect(second.clientId).toBe(first.clientId);
    expect(second.createdClient).toBe(false);
    expect((await call(routes[1] as string, basic('grow@example.com', first.token))).statusCode).toBe(200);
  });

  it('refuses malformed and unknown scopes, listing the known ones', async () => {
    for (const scope of ['Bad Scope', 'manage:consent', 'read:user'])
      await expect(
        createToken(t, { email: 'x@example.com', scopes: [CONSENT_HUB_SCOPE, scope] }),
      ).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        field: 'scopes',
        message: `scopes: unknown "${scope}"; API clients may hold ${API_CLIENT_SCOPE_NAMES.join(', ')}`,
      });
    expect((await t.ctx.apiClients.listTokens()).map((r) => r.email)).not.toContain('x@example.com');
  });
});

describe('revocation from another process', () => {
  it('takes effect within the auth cache time', async () => {
    const short = await createTestApp({ CUSTOS_AUTH_CACHE_MS: '200' });
    try {
      const { authorization, tokenId } = await consentClient(short, 'elsewhere@example.com');
      const ask = () =>
        short.app.inject({
          method: 'POST',
          url: '/consent-hub/consent-config/get',
          headers: { authorization },
          payload: {},
        });
      expect((await ask()).statusCode).toBe(200);
      // As the CLI does it: straight in the database, not through this app.
      expect(await revokeToken(short.ctx.database.db, tokenId, new Date().toISOString())).toBe(true);
      await new Promise((r) => setTimeout(r, 250));
      expect((await ask()).statusCode).toBe(401);
    } finally {
      await short.close();
    }
  });
});

describe('remembered credentials', () => {
  it('keep one way of presenting each token, so one token cannot push the others out', async () => {
    const owner = await consentClient(t, 'spellings@example.com');
    const other = await consentClient(t, 'bystander@example.com');
    const otherHeader = basic('bystander@example.com', other.token);
    const spellings = [
      basic('spellings@example.com', owner.token),
      basic('SPELLINGS@example.com', owner.token),
      basic('spellings@example.com', owner.token).replace('Basic ', 'basic  '),
    ];
    for (const header of [otherHeader, ...spellings]) {
      expect((await call('/consent-hub/consent-config/get', header)).statusCode).toBe(200);
    }
    // The token's latest spelling is remembered and the earlier ones are not; the other
    // client's entry is untouched.
    expect(t.ctx.tokens.remembered(spellings[2] as string)?.tokenId).toBe(owner.tokenId);
    for (const earlier of spellings.slice(0, 2)) expect(t.ctx.tokens.remembered(earlier)).toBeUndefined();
    expect(t.ctx.tokens.remembered(otherHeader)?.tokenId).toBe(other.tokenId);

    // Revoking through this process forgets it at once.
    await t.ctx.apiClients.revokeToken(owner.tokenId, TEST_OPERATOR);
    expect(t.ctx.tokens.remembered(spellings[2] as string)).toBeUndefined();
    expect((await call('/consent-hub/consent-config/get', spellings[2])).statusCode).toBe(401);
  });
});
