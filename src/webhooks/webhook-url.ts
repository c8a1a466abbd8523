import type { LookupAddress, LookupOptions } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { AppError } from '../errors/app-error.js';
import { isGloballyRoutable } from '../geo/geoip.js';

/**
 * Webhook URLs are chosen by app vendors, so Custos must not become a way to reach its own
 * network (SSRF, OWASP API7): targets that are, or resolve to, loopback, private, link-local
 * or other non-public addresses are refused, and so are names that only exist inside a local
 * network, unless the operator allows them (CUSTOS_ALLOW_PRIVATE_WEBHOOKS=true, for tests and
 * local demos). The check runs when a URL is registered and again on every connection, so a
 * DNS answer that changes later (rebinding) is caught too. Numeric IPv4 spellings
 * (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.0.0.1.`) need no rule here: the WHATWG URL
 * parser rewrites them all to the dotted quad before anything reads the host.
 */

/** RFC 4291 §2.4 and the IANA IPv6 address space registry: global unicast comes from 2000::/3 only. */
const GLOBAL_UNICAST = ipaddr.IPv6.parseCIDR('2000::/3');
/** The NAT64 well-known prefix (RFC 6052 §2.1): the last 32 bits are the IPv4 address reached. */
const NAT64_WELL_KNOWN = ipaddr.IPv6.parseCIDR('64:ff9b::/96');

/**
 * Special-use domains whose names mean this machine or its local network: `localhost`
 * (RFC 6761 §6.3), `local` (multicast DNS, RFC 6762), `home.arpa` (RFC 8375) and `internal`
 * (reserved by ICANN for private use). A name that does not resolve yet is accepted at
 * registration, so these are refused by name rather than trusted to fail to resolve.
 */
const LOCAL_ONLY_DOMAINS = ['localhost', 'local', 'home.arpa', 'internal'];

/** The IPv4 address an IPv6 address reaches by translation, if it is one of those forms. */
function translatedIpv4(address: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  // A dual-stack socket connects to ::ffff:a.b.c.d as the IPv4 address a.b.c.d.
  if (address.isIPv4MappedAddress()) return address.toIPv4Address();
  // RFC 6052 §3.1 forbids non-global IPv4 behind the well-known prefix, but a translator
  // configured otherwise would forward it: judge the embedded address.
  if (address.match(NAT64_WELL_KNOWN)) return new ipaddr.IPv4(address.toByteArray().slice(12));
  return undefined;
}

function isPublicIp(address: ipaddr.IPv4 | ipaddr.IPv6): boolean {
  if (address instanceof ipaddr.IPv4) return isGloballyRoutable(address);
  const translated = translatedIpv4(address);
  if (translated) return isGloballyRoutable(translated);
  // Outside 2000::/3 lie the unspecified and loopback addresses, the deprecated
  // IPv4-compatible ::/96 (RFC 4291 §2.5.5.1, so ::127.0.0.1), link-local, unique local,
  // multicast, the local-use NAT64 prefix 64:ff9b:1::/48 and unassigned space. Inside it,
  // ipaddr.js names the ranges that are not plain unicast: 6to4 and Teredo are refused
  // whole, because a relay chosen by the embedded IPv4 address decides where they lead.
  return address.match(GLOBAL_UNICAST) && isGloballyRoutable(address);
}

/**
 * Parses an IP address written as text. IPv6 goes through the WHATWG URL serializer first,
 * which writes every address in hex: ipaddr.js reads the deprecated `::a.b.c.d`
 * (IPv4-compatible, as resolvers print ::/96) as `::ffff:a.b.c.d` (IPv4-mapped), which is
 * another address. A zone index only scopes link-local addresses, refused anyway.
 */
function parseAddress(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const family = isIP(text);
  if (family === 4) return ipaddr.IPv4.parse(text);
  if (family !== 6) return undefined;
  const hex = new URL(`http://[${text.replace(/%.*$/, '')}]/`).hostname.slice(1, -1);
  return ipaddr.IPv6.parse(hex);
}

/** Whether an IP address (as text) is a public unicast host a webhook may be sent to. */
export function isPublicAddress(address: string): boolean {
  const parsed = parseAddress(address);
  return parsed !== undefined && isPublicIp(parsed);
}

/**
 * Whether a host name can only mean this machine or its local network: a special-use
 * domain, with or without the trailing dot of an absolute name (`localhost.`), or a single
 * label, which the resolver completes with the local search domains.
 */
export function isLocalOnlyName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.+$/, '');
  if (!name.includes('.')) return true;
  return LOCAL_ONLY_DOMAINS.some((domain) => name === domain || name.endsWith(`.${domain}`));
}

/** The URL's host without the brackets of an IPv6 literal. */
function bareHost(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

/**
 * Why the URL's host, as written, is not a public target: an IP literal that is not public,
 * or a local-only name. Undefined when only resolving the name can tell.
 */
export function hostRefusal(url: URL): string | undefined {
  const host = bareHost(url);
  if (isIP(host) !== 0) return isPublicAddress(host) ? undefined : 'is a private or reserved address';
  return isLocalOnlyName(host) ? 'names a host of the local network, not a public one' : undefined;
}

/** Validates the form of a webhook URL: absolute https (or http), no credentials. */
export function parseWebhookUrl(value: string, field = 'webhook.url'): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AppError('VALIDATION_FAILED', `${field}: not an absolute URL`, { field });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new AppError('VALIDATION_FAILED', `${field}: must be an http(s) URL`, { field });
  }
  if (url.username || url.password) {
    throw new AppError('VALIDATION_FAILED', `${field}: must not carry credentials`, { field });
  }
  return url;
}

/** Every address of a name, as `dns.lookup` gives them; tests give a fixed table. */
export type Resolver = (hostname: string, options?: Omit<LookupOptions, 'all'>) => Promise<LookupAddress[]>;

export const systemResolver: Resolver = (hostname, options = {}) =>
  lookup(hostname, { ...options, all: true });

function refused(field: string, reason: string): AppError {
  return new AppError('VALIDATION_FAILED', `${field}: ${reason}`, { field });
}

/**
 * Refuses the URL when its host is not public as written or when any address its name
 * resolves to is not public; answers whether the host resolved at all.
 */
async function checkTarget(url: URL, field: string, resolve: Resolver): Promise<boolean> {
  const refusal = hostRefusal(url);
  if (refusal) throw refused(field, refusal);
  const host = bareHost(url);
  if (isIP(host) !== 0) return true;
  let addresses: LookupAddress[];
  try {
    addresses = await resolve(host);
  } catch {
    return false;
  }
  if (addresses.length === 0) return false;
  if (!addresses.every((a) => isPublicAddress(a.address)))
    throw refused(field, 'resolves to a private or reserved address');
  return true;
}

/** Refuses the URL unless its host is public and resolves, every address of it public. */
export async function assertDeliverableUrl(
  value: string,
  allowPrivate: boolean,
  field = 'webhook.url',
  resolve: Resolver = systemResolver,
): Promise<URL> {
  const url = parseWebhookUrl(value, field);
  if (!allowPrivate && !(await checkTarget(url, field, resolve)))
    throw refused(field, 'host does not resolve');
  return url;
}

/**
 * The registration-time check (import, admin API): refuses a URL whose host is, or resolves
 * to, a non-public address, or is a local-only name. A public name that does not resolve yet
 * is accepted: nothing can be sent to it, and every delivery re-checks the address it
 * connects to (guardedLookup).
 */
export async function assertRegistrableUrl(
  value: string,
  allowPrivate: boolean,
  field = 'webhook.url',
): Promise<URL> {
  const url = parseWebhookUrl(value, field);
  if (!allowPrivate) await checkTarget(url, field, systemResolver);
  return url;
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** The error a refused delivery records (its code is what `webhook list` shows). */
export function privateTarget(): NodeJS.ErrnoException {
  return Object.assign(new Error('webhook target is not a public host'), { code: 'ECUSTOSPRIVATE' });
}

/**
 * The connection-time guard. `lookup` for http.request, refusing local-only names and names
 * with any non-public address; IP literals never reach a lookup, so the caller checks those
 * with hostRefusal.
 */
export function guardedLookup(allowPrivate: boolean, resolve: Resolver = systemResolver) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback) => {
    if (!allowPrivate && isLocalOnlyName(hostname)) return callback(privateTarget(), '');
    const { all, ...rest } = options;
    resolve(hostname, rest).then(
      (addresses) => {
        if (!allowPrivate && addresses.some((a) => !isPublicAddress(a.address)))
          return callback(privateTarget(), '');
        if (all === true) return callback(null, addresses);
        const first = addresses[0];
        return first ? callback(null, first.address, first.family) : callback(new Error('no address'), '');
      },
      (error: NodeJS.ErrnoException) => callback(error, ''),
    );
  };
}
