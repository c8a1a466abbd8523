import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countryFromRecord, openGeoIp } from '../../src/geo/geoip.js';
import {
  consentClient,
  createConsentTestApp,
  createTestApp,
  GMOI_TEXT,
  type TestApp,
  waitForApplied,
} from '../helpers/app.js';

let t: TestApp;
let auth: string;

beforeAll(async () => {
  ({ t, auth } = await createConsentTestApp());
});
afterAll(() => t.close());

function get(body: unknown, app = t) {
  return app.app.inject({
    method: 'POST',
    url: '/consent-hub/consent-config/get',
    headers: { authorization: auth, 'content-type': 'application/json', accept: 'application/json' },
    payload: JSON.stringify(body),
  });
}

describe('POST /consent-hub/consent-config/get', () => {
  it('answers exactly the four documented fields', async () => {
    const res = await get({ userIp: '8.8.8.8' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      locale: 'US',
      localeRequiresMarketingCommunicationOptIn: false,
      hasUserMadeChoiceOnMarketingCommunicationOptIn: false,
      usersChoiceOnMarketingCommunicationOptIn: false,
    });
  });

  it.each([
    ['185.166.140.232', 'NL', true],
    ['102.12.1.2', 'EG', false],
    ['2a00:1450::1', 'IE', true],
    ['::ffff:8.8.8.8', 'US', false],
  ])('locates %s as %s (opt-in required: %s)', async (userIp, locale, optIn) => {
    const res = await get({ userIp });
    expect(res.json()).toMatchObject({ locale, localeRequiresMarketingCommunicationOptIn: optIn });
  });

  it.each([
    ['private', '192.168.1.1'],
    ['private 10/8', '10.1.2.3'],
    ['loopback', '127.0.0.1'],
    ['link-local', '169.254.10.1'],
    ['CGNAT', '100.64.1.1'],
    ['documentation', '203.0.113.5'],
    ['documentation', '198.51.100.7'],
    ['documentation', '192.0.2.1'],
    ['unspecified', '0.0.0.0'],
    ['broadcast', '255.255.255.255'],
    ['multicast', '224.0.0.1'],
    ['IPv6 loopback', '::1'],
    ['IPv6 documentation', '2001:db8::1'],
    ['IPv6 unique local', 'fd00::1'],
    ['IPv6 link-local', 'fe80::1'],
    ['IPv4-mapped private', '::ffff:192.168.1.1'],
  ])('treats a %s address (%s) as UNKNOWN, requiring opt-in', async (_kind, userIp) => {
    const res = await get({ userIp });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ locale: 'UNKNOWN', localeRequiresMarketingCommunicationOptIn: true });
  });

  it('without userIp answers UNKNOWN, requiring opt-in', async () => {
    expect((await get({})).json()).toMatchObject({
      locale: 'UNKNOWN',
      localeRequiresMarketingCommunicationOptIn: true,
    });
  });

  it.each(['not-an-ip', '256.1.1.1', '127.1', '0x7f.0.0.1', '1.2.3.4/24', '::g', ' 8.8.8.8'])(
    'refuses the malformed address %j with 400 naming userIp',
    async (userIp) => {
      const res = await get({ userIp });
      expect(res.statusCode).toBe(400);
      expect(res.json().field).toBe('userIp');
    },
  );

  it('reports the user choice from the generalMarketingOptIn consent', async () => {
    const email = 'choice@example.com';
    expect((await get({ email, userIp: '8.8.8.8' })).json()).toMatchObject({
      hasUserMadeChoiceOnMarketingCommunicationOptIn: false,
      usersChoiceOnMarketingCommunicationOptIn: false,
    });
    const post = (granted: boolean) =>
      t.app.inject({
        method: 'POST',
        url: '/consent-hub/consent',
        headers: { authorization: auth },
        payload: {
          email,
          locale: 'US',
          consents: [
            { key: 'generalMarketingOptIn', granted, ...(granted ? { displayedText: GMOI_TEXT } : {}) },
          ],
        },
      });
    expect((await post(true)).statusCode).toBe(202);
    await waitForApplied(t);
    expect((await get({ email: 'CHOICE@example.com' })).json()).toMatchObject({
      hasUserMadeChoiceOnMarketingCommunicationOptIn: true,
      usersChoiceOnMarketingCommunicationOptIn: true,
    });
    expect((await post(false)).statusCode).toBe(202);
    await waitForApplied(t);
    expect((await get({ email })).json()).toMatchObject({
      hasUserMadeChoiceOnMarketingCommunicationOptIn: true,
      usersChoiceOnMarketingCommunicationOptIn: false,
    });
  });

  it('refuses an invalid email and unknown properties', async () => {
    expect((await get({ email: 'nope' })).json()).toMatchObject({
      errorType: 'VALIDATION_FAILED',
      field: 'email',
    });
    expect((await get({ userIp: '8.8.8.8', country: 'US' })).json()).toMatchObject({ field: 'country' });
  });

  it('uses an operator-supplied opt-in country table', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'custos-optin-'));
    const file = join(dir, 'opt-in.json');
    writeFileSync(file, JSON.stringify({ requireOptIn: [{ code: 'US', basis: 'operator policy' }] }));
    const custom = await createTestApp({ CUSTOS_OPT_IN_COUNTRIES_FILE: file });
    try {
      const customAuth = (await consentClient(custom)).authorization;
      const ask = (userIp: string) =>
        custom.app.inject({
          method: 'POST',
          url: '/consent-hub/consent-config/get',
          headers: { authorization: customAuth },
          payload: { userIp },
        });
      expect((await ask('8.8.8.8')).json().localeRequiresMarketingCommunicationOptIn).toBe(true);
      expect((await ask('185.166.140.232')).json().localeRequiresMarketingCommunicationOptIn).toBe(false);
      expect((await ask('10.0.0.1')).json().localeRequiresMarketingCommunicationOptIn).toBe(true);
    } finally {
      await custom.close();
    }
  });
});

describe('IP geolocation', () => {
  it('reads an operator-supplied .mmdb with the country_code record shape', async () => {
    const { createRequire } = await import('node:module');
    const path = createRequire(import.meta.url).resolve(
      '@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country-ipv4.mmdb',
    );
    const geo = await openGeoIp(path);
    expect(geo.countryOf('8.8.8.8')).toBe('US');
    // An IPv4-only database knows nothing of IPv6: UNKNOWN, not an error.
    expect(geo.countryOf('2a00:1450::1')).toBe('UNKNOWN');
  });

  it('answers a remembered address as the first time, refuses a malformed one every time, and keeps memory bounded', async () => {
    const geo = await openGeoIp();
    const addresses = ['8.8.8.8', '::ffff:8.8.8.8', '10.0.0.1', '2a00:1450::1', '185.166.140.232'];
    const first = addresses.map((a) => geo.countryOf(a));
    expect(first.slice(0, 3)).toEqual(['US', 'US', 'UNKNOWN']);
    // More distinct addresses than are remembered: the memory starts over, answers stay right.
    for (let i = 0; i < 10_500; i++) geo.countryOf(`8.8.${i >> 8}.${i & 255}`);
    expect(addresses.map((a) => geo.countryOf(a))).toEqual(first);
    for (let i = 0; i < 2; i++) expect(() => geo.countryOf('127.1')).toThrow('not an IPv4 or IPv6 address');
  });

  it('reads both record shapes: MaxMind country.iso_code and ip-location-db country_code', () => {
    expect(countryFromRecord({ country: { iso_code: 'GB' } })).toBe('GB');
    expect(countryFromRecord({ country_code: 'jp' })).toBe('JP');
    expect(countryFromRecord({ country_code: 'EU' })).toBe('UNKNOWN');
    expect(countryFromRecord(null)).toBe('UNKNOWN');
  });
});
