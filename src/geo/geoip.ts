import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import maxmind, { type Reader } from 'maxmind';
import { ISO_COUNTRIES, UNKNOWN_LOCALE } from './countries.js';

/**
 * Offline IP → country. The bundled database is @ip-location-db/geo-whois-asn-country-mmdb
 * (CC0); operators may point CUSTOS_GEOIP_DB at their own .mmdb (GeoLite2, DB-IP, …).
 * Both record shapes are read: MaxMind's `country.iso_code` and ip-location-db's `country_code`.
 */
interface CountryRecord {
  country?: { iso_code?: string };
  country_code?: string;
}

export interface GeoIp {
  /** ISO 3166-1 alpha-2 code, or UNKNOWN. Throws InvalidIpError for a malformed address. */
  countryOf(address: string): string;
}

export class InvalidIpError extends Error {}

export function bundledGeoIpPath(): string {
  const require = createRequire(import.meta.url);
  return require.resolve('@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb');
}

/**
 * Whether the address is one that geolocation can say anything true about. Checked before
 * the lookup because the bundled data maps some reserved ranges to countries
 * (192.168.1.1 → AU, 203.0.113.5 → AU, 2001:db8::1 → JP were all seen).
 */
export function isGloballyRoutable(address: ipaddr.IPv4 | ipaddr.IPv6): boolean {
  // Every named range other than plain unicast — private, loopback, link-local, CGNAT,
  // documentation ("reserved"), multicast, 6to4, Teredo, NAT64, … — is not a location.
  return address.range() === 'unicast';
}

/**
 * Parses strictly: dotted-quad IPv4 or IPv6 (`127.1` and `0x7f.0.0.1` are malformed). An
 * IPv4-mapped IPv6 address (`::ffff:8.8.8.8`) is the IPv4 address it carries.
 */
export function parseIp(value: string): ipaddr.IPv4 | ipaddr.IPv6 {
  if (isIP(value) === 0) throw new InvalidIpError('not an IPv4 or IPv6 address');
  return ipaddr.process(value);
}

/** The country of a database record of either shape, or UNKNOWN. */
export function countryFromRecord(record: CountryRecord | null | undefined): string {
  const code = (record?.country?.iso_code ?? record?.country_code)?.toUpperCase();
  return code && ISO_COUNTRIES.has(code) ? code : UNKNOWN_LOCALE;
}

/** Addresses whose country is remembered; past it the memory starts over. */
const MAX_REMEMBERED_ADDRESSES = 10_000;

export async function openGeoIp(path?: string): Promise<GeoIp> {
  // The reader's types know only MaxMind's shapes; records are read as CountryRecord.
  const reader: Reader<never> = await maxmind.open(path ?? bundledGeoIpPath());
  const ipv4Only = reader.metadata.ipVersion === 4;
  const locate = (value: string): string => {
    const address = parseIp(value);
    if (!isGloballyRoutable(address)) return UNKNOWN_LOCALE;
    // An IPv4-only database answers IPv6 queries with unrelated records instead of none.
    if (ipv4Only && address.kind() === 'ipv6') return UNKNOWN_LOCALE;
    return countryFromRecord(reader.get(address.toString()));
  };
  // The database does not change while it is open, so an address's answer is kept, exactly
  // as written (a marketing system asks about the same visitors again and again); parsing
  // and the range check cost more than the lookup. Malformed addresses are not kept.
  const remembered = new Map<string, string>();
  return {
    countryOf(value: string): string {
      let country = remembered.get(value);
      if (country === undefined) {
        country = locate(value);
        if (remembered.size >= MAX_REMEMBERED_ADDRESSES) remembered.clear();
        remembered.set(value, country);
      }
      return country;
    },
  };
}
