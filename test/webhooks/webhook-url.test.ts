import type { LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors/app-error.js';
import {
  assertDeliverableUrl,
  assertRegistrableUrl,
  isLocalOnlyName,
  isPublicAddress,
  type Resolver,
} from '../../src/webhooks/webhook-url.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { adminClient, exampleDirectory } from '../helpers/directory.js';

/** A resolver answering from a table, as DNS would for names the test owns. */
function resolverOf(table: Record<string, string[]>): Resolver {
  return async (hostname) => {
    const addresses = table[hostname];
    if (!addresses) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return addresses.map((address): LookupAddress => ({ address, family: isIP(address) }));
  };
}

describe('the webhook target classifier', () => {
  it.each([
    ['IPv4 loopback', '127.0.0.1'],
    ['RFC 1918', '10.1.2.3'],
    ['RFC 1918', '172.16.0.1'],
    ['RFC 1918', '192.168.1.1'],
    ['cloud metadata (link-local)', '169.254.169.254'],
    ['carrier-grade NAT', '100.64.0.1'],
    ['IPv4 unspecified', '0.0.0.0'],
    ['this network', '0.1.2.3'],
    ['broadcast', '255.255.255.255'],
    ['IPv4 multicast', '224.0.0.1'],
    ['documentation', '192.0.2.1'],
    ['benchmarking', '198.18.0.1'],
    ['class E', '240.0.0.1'],
    ['IPv6 unspecified', '::'],
    ['IPv6 loopback', '::1'],
    ['IPv4-compatible loopback', '::127.0.0.1'],
    ['IPv4-compatible private', '::10.0.0.1'],
    ['IPv4-compatible, even of a public address (deprecated)', '::8.8.8.8'],
    ['IPv4-mapped loopback', '::ffff:127.0.0.1'],
    ['IPv4-mapped private', '::ffff:10.0.0.1'],
    ['IPv4-mapped metadata', '::ffff:169.254.169.254'],
    ['IPv4-mapped, hex form', '::ffff:7f00:1'],
    ['IPv4-translated (RFC 6145)', '::ffff:0:127.0.0.1'],
    ['NAT64 of loopback', '64:ff9b::127.0.0.1'],
    ['NAT64 of RFC 1918', '64:ff9b::10.0.0.1'],
    ['NAT64 of metadata', '64:ff9b::a9fe:a9fe'],
    ['local-use NAT64 (RFC 8215)', '64:ff9b:1::a00:1'],
    ['6to4 of loopback', '2002:7f00:1::1'],
    ['6to4 of a public address (relay-dependent)', '2002:808:808::1'],
    ['Teredo', '2001:0:4136:e378:8000:63bf:3fff:fdd2'],
    ['link-local', 'fe80::1'],
    ['unique local', 'fd12:3456::1'],
    ['site-local (deprecated)', 'fec0::1'],
    ['IPv6 multicast', 'ff02::1'],
    ['IPv6 documentation', '2001:db8::1'],
    ['discard-only', '100::1'],
    ['unassigned, outside 2000::/3', '4000::1'],
    ['not an address', 'hooks.example.com'],
  ])('refuses %s: %s', (_kind, address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '2606:4700:4700::1111',
    '2a00:1450:4001:80b::200e',
    '::ffff:8.8.8.8',
    '64:ff9b::8.8.8.8',
  ])('accepts the public address %s', (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });

  it.each([
    'localhost',
    'localhost.',
    'LocalHost.',
    'localhost..',
    'foo.localhost',
    'foo.localhost.',
    'a.b.localhost',
    'printer.local',
    'router.home.arpa',
    'db.internal.',
    'intranet',
    'intranet.',
  ])('treats %s as a local-only name', (name) => {
    expect(isLocalOnlyName(name)).toBe(true);
  });

  it.each([
    'hooks.example.com',
    'hooks.example.com.',
    'localhost.example.com',
    'notlocalhost.com',
    'internal.example.org',
  ])('treats %s as a public name', (name) => {
    expect(isLocalOnlyName(name)).toBe(false);
  });
});

describe('webhook URLs at registration', () => {
  const field = 'apps[0].webhook.url';

  it.each([
    ['http://[::127.0.0.1]/hooks', /private or reserved/],
    ['http://[::ffff:127.0.0.1]/hooks', /private or reserved/],
    ['http://[64:ff9b::10.0.0.1]/hooks', /private or reserved/],
    ['http://[::]/hooks', /private or reserved/],
    ['http://[2002:7f00:1::1]/hooks', /private or reserved/],
    // The WHATWG URL parser turns every numeric IPv4 spelling into the dotted quad.
    ['http://2130706433/hooks', /private or reserved/],
    ['http://0x7f.1/hooks', /private or reserved/],
    ['http://0177.0.0.1/hooks', /private or reserved/],
    ['http://127.0.0.1./hooks', /private or reserved/],
    ['http://0/hooks', /private or reserved/],
    ['https://169.254.169.254/latest', /private or reserved/],
    ['http://localhost./hooks', /local network/],
    ['http://LOCALHOST:8080/hooks', /local network/],
    ['http://foo.localhost/hooks', /local network/],
    ['https://printer.local/hooks', /local network/],
    ['https://intranet/hooks', /local network/],
  ])('refuses %s, naming the field', async (url, reason) => {
    const error = await assertRegistrableUrl(url, false, field).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).message).toMatch(reason);
    expect((error as AppError).message.startsWith(`${field}: `)).toBe(true);
  });

  it('allows the same URLs when the operator allows private targets', async () => {
    await expect(assertRegistrableUrl('http://[::127.0.0.1]/hooks', true, field)).resolves.toBeInstanceOf(
      URL,
    );
    await expect(assertRegistrableUrl('http://localhost./hooks', true, field)).resolves.toBeInstanceOf(URL);
  });

  it('checks every address a name resolves to', async () => {
    const resolve = resolverOf({
      'public.vendor.example': ['8.8.8.8', '2606:4700:4700::1111'],
      'mixed.vendor.example': ['8.8.8.8', '::127.0.0.1'],
      'nat64.vendor.example': ['64:ff9b::10.0.0.1'],
      'mapped.vendor.example': ['::ffff:192.168.0.1'],
    });
    const check = (host: string) => assertDeliverableUrl(`https://${host}/hooks`, false, field, resolve);
    await expect(check('public.vendor.example')).resolves.toBeInstanceOf(URL);
    for (const host of ['mixed.vendor.example', 'nat64.vendor.example', 'mapped.vendor.example'])
      await expect(check(host)).rejects.toThrow(`${field}: resolves to a private or reserved address`);
    await expect(check('missing.vendor.example')).rejects.toThrow(`${field}: host does not resolve`);
  });
});

describe('an app endpoint with such a URL, imported', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it.each([
    'http://[::127.0.0.1]/hooks',
    'http://localhost./hooks',
    'http://foo.localhost/hooks',
    'http://[64:ff9b::a9fe:a9fe]/latest',
  ])('refuses %s with a 400 naming the field, writing nothing', async (url) => {
    const file = exampleDirectory();
    const apps = file.apps ?? [];
    const index = apps.length - 1;
    const last = apps[index];
    if (!last) throw new Error('the example directory has apps');
    last.webhook = { url };
    const res = await t.app.inject({
      method: 'POST',
      url: '/admin/directory/import',
      headers: { authorization: await adminClient(t) },
      payload: file,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      errorType: 'VALIDATION_FAILED',
      field: `apps[${index}].webhook.url`,
    });
    expect(await t.ctx.database.db.selectFrom('apps').select('key').execute()).toEqual([]);
  });
});
