import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { AppError } from '../errors/app-error.js';
import { isGloballyRoutable } from '../geo/geoip.js';

/**
 * Webhook URLs are chosen by app vendors, so Custos must not become a way to reach its own
 * network (SSRF, OWASP API7): targets that resolve to loopback, private, link-local or other
 * non-public addresses are refused, unless the operator allows them
 * (CUSTOS_ALLOW_PRIVATE_WEBHOOKS=true, for tests and local demos). The check runs when a URL
 * is registered and again on every connection, so a DNS answer that changes later
 * (rebinding) is caught too.
 */
export function isPublicAddress(address: string): boolean {
  return isIP(address) !== 0 && isGloballyRoutable(ipaddr.process(address));
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

/** Resolves the URL's host and refuses it when any address it resolves to is not public. */
export async function assertDeliverableUrl(
  value: string,
  allowPrivate: boolean,
  field = 'webhook.url',
): Promise<URL> {
  const url = parseWebhookUrl(value, field);
  if (allowPrivate) return url;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await lookupAll(host)).map((a) => a.address);
  } catch {
    throw new AppError('VALIDATION_FAILED', `${field}: host does not resolve`, { field });
  }
  if (addresses.length === 0 || !addresses.every(isPublicAddress)) {
    throw new AppError('VALIDATION_FAILED', `${field}: resolves to a private or reserved address`, { field });
  }
  return url;
}

/**
 * The registration-time check (import, admin API): refuses a URL whose host is, or resolves
 * to, a non-public address. A name that does not resolve yet is accepted: nothing can be
 * sent to it, and every delivery re-checks the address it connects to (guardedLookup).
 */
export async function assertRegistrableUrl(value: string, allowPrivate: boolean, field = 'webhook.url') {
  try {
    return await assertDeliverableUrl(value, allowPrivate, field);
  } catch (error) {
    if (error instanceof AppError && error.message.endsWith('host does not resolve'))
      return parseWebhookUrl(value, field);
    throw error;
  }
}

function lookupAll(host: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) =>
    dnsLookup(host, { all: true }, (error, addresses) => (error ? reject(error) : resolve(addresses))),
  );
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** A `lookup` for http.request that refuses non-public addresses at connection time. */
export function guardedLookup(allowPrivate: boolean) {
  return (hostname: string, options: object, callback: LookupCallback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '');
      const refused = !allowPrivate && addresses.some((a) => !isPublicAddress(a.address));
      if (refused) {
        const denied = Object.assign(new Error('webhook target resolves to a non-public address'), {
          code: 'ECUSTOSPRIVATE',
        });
        return callback(denied, '');
      }
      const wantsAll = (options as { all?: boolean }).all === true;
      if (wantsAll) return callback(null, addresses);
      const first = addresses[0];
      return first ? callback(null, first.address, first.family) : callback(new Error('no address'), '');
    });
  };
}
