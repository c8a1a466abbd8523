import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createQueryStringHash, fromMethodAndUrl } from 'atlassian-jwt';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isUndecodableTarget, queryStringHash } from '../../src/auth/connect-jwt.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import {
  ADA,
  connectJwt,
  exampleDirectory,
  GINA,
  getAsInstallation,
  getWithBearer,
  importExample,
  OPERATOR,
  oauthToken,
  SECRETS,
  userUrl,
} from '../helpers/directory.js';
import { runCustos } from '../helpers/process.js';

// Tests below start CLI processes; each start takes seconds on a busy machine.
vi.setConfig({ testTimeout: 120_000 });

const url = userUrl(ADA);
/** Long enough that nothing in a test outlives it by accident. */
const LONG_CACHE_MS = '60000';
const SHORT_CACHE_MS = 400;

/** Marks an installation uninstalled straight in the database, as another process would: this one is not told. */
async function uninstallElsewhere(t: TestApp, clientKey: string) {
  await t.ctx.database.db
    .updateTable('installations')
    .set({ uninstalled_at: new Date().toISOString() })
    .where('client_key', '=', clientKey)
    .execute();
}

describe('app credentials are remembered for CUSTOS_AUTH_CACHE_MS', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ CUSTOS_AUTH_CACHE_MS: LONG_CACHE_MS });
    await importExample(t);
  });
  afterAll(() => t.close());

  it('a target with a malformed escape is refused as unauthenticated, not failed', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: `${url}&note=%E0%A4%A`,
      headers: { authorization: `JWT ${connectJwt('mailer-acme', SECRETS.mailerAcme, 'GET', url)}` },
    });
    expect(res.statusCode, res.body).toBe(401);
  });

  it('an uninstall through this process stops the next Connect call, whatever the cache time', async () => {
    const gina = userUrl(GINA);
    expect((await getAsInstallation(t, 'ts-globex-1', SECRETS.tsGlobex, gina)).statusCode).toBe(200);
    await t.ctx.directory.uninstall('ts-globex-1', OPERATOR);
    expect((await getAsInstallation(t, 'ts-globex-1', SECRETS.tsGlobex, gina)).statusCode).toBe(401);
  });

  it('a change by another process is not seen before the cache time: the installation was remembered', async () => {
    expect((await getAsInstallation(t, 'mailer-acme', SECRETS.mailerAcme, url)).statusCode).toBe(200);
    await uninstallElsewhere(t, 'mailer-acme');
    expect((await getAsInstallation(t, 'mailer-acme', SECRETS.mailerAcme, url)).statusCode).toBe(200);
  });

  it('an OAuth client re-imported with a new secret through this process: old tokens stop at once', async () => {
    const token = await oauthToken(t, 'timesheets', SECRETS.timesheetsClient);
    expect((await getWithBearer(t, token, url)).statusCode).toBe(200);
    const file = exampleDirectory();
    const timesheets = file.apps?.find((a) => a.key === 'com.vendor.timesheets');
    if (!timesheets?.oauth) throw new Error('the example directory changed');
    timesheets.oauth.clientSecret = 'timesheets-client-secret-rotated-0123456789';
    await importExample(t, file);
    expect((await getWithBearer(t, token, url)).statusCode).toBe(401);
    const fresh = await oauthToken(t, 'timesheets', 'timesheets-client-secret-rotated-0123456789');
    expect((await getWithBearer(t, fresh, url)).statusCode).toBe(200);
  });
});

describe('changes by another process count within CUSTOS_AUTH_CACHE_MS', () => {
  let t: TestApp;
  let env: Record<string, string>;
  beforeAll(async () => {
    t = await createTestApp({ CUSTOS_AUTH_CACHE_MS: String(SHORT_CACHE_MS) });
    await importExample(t);
    env = { DATABASE_URL: t.database.url, CUSTOS_SECRET_KEY: t.ctx.config.secretKey as string };
  });
  afterAll(() => t.close());

  it('a Connect installation uninstalled elsewhere is refused once the cache time has passed', async () => {
    expect((await getAsInstallation(t, 'ts-acme-1', SECRETS.tsAcme, url)).statusCode).toBe(200);
    await uninstallElsewhere(t, 'ts-acme-1');
    await new Promise((r) => setTimeout(r, SHORT_CACHE_MS + 100));
    expect((await getAsInstallation(t, 'ts-acme-1', SECRETS.tsAcme, url)).statusCode).toBe(401);
  });

  it('a shared secret rotated by `custos import`: the old secret stops, the new one works', async () => {
    expect((await getAsInstallation(t, 'mailer-acme', SECRETS.mailerAcme, url)).statusCode).toBe(200);
    const file = exampleDirectory();
    const rotated = 'mailer-acme-shared-secret-rotated-0123456789';
    const mailer = file.installations?.find((i) => i.clientKey === 'mailer-acme');
    if (!mailer) throw new Error('the example directory changed');
    mailer.sharedSecret = rotated;
    const path = join(mkdtempSync(join(tmpdir(), 'custos-rotate-')), 'directory.json');
    writeFileSync(path, JSON.stringify(file));
    expect((await runCustos(['import', path], env)).code).toBe(0);
    await new Promise((r) => setTimeout(r, SHORT_CACHE_MS + 100));
    expect((await getAsInstallation(t, 'mailer-acme', SECRETS.mailerAcme, url)).statusCode).toBe(401);
    expect((await getAsInstallation(t, 'mailer-acme', rotated, url)).statusCode).toBe(200);
  });

  it('an app uninstalled elsewhere: its OAuth tokens are refused once the cache time has passed', async () => {
    const token = await oauthToken(t, 'reporter', SECRETS.readerClient);
    const report = () =>
      t.app.inject({
        method: 'POST',
        url: '/app/report-accounts/',
        headers: { authorization: `Bearer ${token}` },
        payload: { accounts: [{ accountId: ADA, updatedAt: new Date().toISOString() }] },
      });
    expect((await report()).statusCode).toBe(204);
    await uninstallElsewhere(t, 'reporter-acme');
    await new Promise((r) => setTimeout(r, SHORT_CACHE_MS + 100));
    expect((await report()).statusCode).toBe(401);
  });
});

/** The library's qsh, or undefined where it cannot decode the target (it throws URIError). */
function libraryQsh(method: string, url: string): string | undefined {
  try {
    return createQueryStringHash(fromMethodAndUrl(method, url));
  } catch (error) {
    if (isUndecodableTarget(error)) return undefined;
    throw error;
  }
}

describe('qsh', () => {
  it('is undefined for a target the library cannot read, which no token can be bound to', () => {
    // A malformed escape (URIError), and paths Node's URL parser refuses (TypeError).
    for (const target of ['/\\%@!', '/\\ @]', '/\\x@['])
      expect(queryStringHash('GET', target), target).toBeUndefined();
  });

  it('is what atlassian-jwt computes, for plain targets and any other', () => {
    const plain = fc.stringMatching(/^[A-Za-z0-9\-._~/=&]{0,40}$/);
    const any = fc.string({ unit: 'grapheme-ascii', maxLength: 40 });
    const target = fc
      .tuple(fc.oneof(plain, any), fc.option(fc.oneof(plain, any)))
      .map(([path, query]) => `/${path}${query === null ? '' : `?${query}`}`);
    const method = fc.constantFrom('GET', 'post', 'PUT', 'Delete');
    fc.assert(
      fc.property(method, target, (m, u) => {
        expect(queryStringHash(m, u)).toBe(libraryQsh(m, u));
      }),
      { numRuns: 5_000 },
    );
  });

  it('sorts names and repeated values, drops jwt, and ignores empty pieces, as atlassian-jwt does', () => {
    for (const u of [
      '/rest/api/3/user/bulk?accountId=b&accountId=a&maxResults=5',
      '/rest/api/3/user/?jwt=x&b=&&a=1=2&=z',
      '/rest/api/3/user?__proto__=x&constructor=y',
      `/r?${Array.from({ length: 1_100 }, (_, i) => `k${i}=v`).join('&')}`,
    ]) {
      expect(queryStringHash('GET', u)).toBe(createQueryStringHash(fromMethodAndUrl('GET', u)));
    }
  });
});
