import { createQueryStringHash, fromMethodAndUrl } from 'atlassian-jwt';
import { sha256Hex } from '../crypto/digest.js';
import { isValidAccountId } from '../shared/account-id.js';
import { isStorableText } from '../validation.js';
import type { AppCredentials } from './app-credentials.port.js';
import type { CredentialLimiter } from './credential-limiter.js';
import { decodeJws, hasValidHs256Signature } from './hs256.js';
import type { AppPrincipal } from './principal.js';
import { APP_SCOPE_NAMES } from './scopes.js';

/** Clocks of apps and Custos differ a little; public clients sign with exp = iat + 180 s. */
const CLOCK_TOLERANCE_S = 30;

/** Shared by every Connect principal: nothing changes a principal's scopes. */
const CONNECT_SCOPES: ReadonlySet<string> = new Set(APP_SCOPE_NAMES);

const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** Registered claims (RFC 7519 §4.1) as Connect uses them: exp and iat required, with the clock skew. */
function hasValidTimes(claims: Record<string, unknown>, nowSeconds: number): boolean {
  if (!isNumber(claims.exp) || !isNumber(claims.iat)) return false;
  if (claims.exp <= nowSeconds - CLOCK_TOLERANCE_S) return false;
  if (claims.iat > nowSeconds + CLOCK_TOLERANCE_S) return false;
  return claims.nbf === undefined || (isNumber(claims.nbf) && claims.nbf <= nowSeconds + CLOCK_TOLERANCE_S);
}

/**
 * A request target made only of characters that need no decoding and no percent-encoding
 * (RFC 3986 unreserved, `/`, and the query's `=` and `&` as separators), whose path does
 * not start with `//`: its canonical form can be read off the string itself.
 */
const PLAIN_TARGET = /^\/(?!\/)[A-Za-z0-9\-._~/]*(?:\?[A-Za-z0-9\-._~=&]*)?$/;
/** Node's query-string parser keeps at most this many parameters; longer queries take the library's path. */
const MAX_PLAIN_PARAMETERS = 1000;

/**
 * The canonical request of atlassian-jwt (`METHOD&path&sorted-query`) for a plain target:
 * path without its trailing slash; parameters sorted by name, a repeated one's values
 * sorted and joined by commas, `jwt` left out. Undefined where the library must decide.
 */
function plainCanonicalRequest(method: string, rawUrl: string): string | undefined {
  if (!PLAIN_TARGET.test(rawUrl)) return undefined;
  const mark = rawUrl.indexOf('?');
  let path = mark === -1 ? rawUrl : rawUrl.slice(0, mark);
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  const values = new Map<string, string[]>();
  if (mark !== -1) {
    const pieces = rawUrl.slice(mark + 1).split('&');
    if (pieces.length > MAX_PLAIN_PARAMETERS) return undefined;
    for (const piece of pieces) {
      if (piece.length === 0) continue;
      const equals = piece.indexOf('=');
      const name = equals === -1 ? piece : piece.slice(0, equals);
      const value = equals === -1 ? '' : piece.slice(equals + 1);
      // A second `=` belongs to the value, which the library then percent-encodes.
      if (value.includes('=')) return undefined;
      const seen = values.get(name);
      if (seen) seen.push(value);
      else values.set(name, [value]);
    }
  }
  values.delete('jwt');
  values.delete('__proto__');
  const query = [...values.keys()]
    .sort()
    .map((name) => `${name}=${(values.get(name) as string[]).sort().join(',')}`)
    .join('&');
  return `${method.toUpperCase()}&${path}&${query}`;
}

/**
 * qsh exactly as atlassian-jwt computes it: SHA-256 of `METHOD&path&sorted-query`. Plain
 * targets (what API clients send) are canonicalized here; anything with escapes or other
 * characters goes through the library itself. Undefined for a target the library cannot
 * decode (a malformed percent escape, a target Node's URL parser refuses): no token can be
 * bound to it, so the call is refused as unauthenticated, not failed.
 */
export function queryStringHash(method: string, rawUrl: string): string | undefined {
  const canonical = plainCanonicalRequest(method, rawUrl);
  if (canonical !== undefined) return sha256Hex(canonical);
  try {
    return createQueryStringHash(fromMethodAndUrl(method, rawUrl));
  } catch (error) {
    if (isUndecodableTarget(error)) return undefined;
    throw error;
  }
}

/**
 * What the library throws for a target it cannot read: a malformed percent escape
 * (URIError), or Node's URL parser refusing it (a path such as `/\x@[` reads as a host).
 */
export function isUndecodableTarget(error: unknown): boolean {
  return (
    error instanceof URIError ||
    (error instanceof TypeError && (error as { code?: unknown }).code === 'ERR_INVALID_URL')
  );
}

/**
 * Verifies a Connect-style JWT (docs/wire-contracts.md#connect-style-jwt): HS256 with the
 * shared secret of the installation named by `iss`, `exp` enforced, `qsh` bound to this very
 * request. Undefined for anything wrong (unknown issuer, uninstalled, bad signature, expired,
 * wrong qsh): the caller answers 401 without saying which, so probing learns nothing.
 *
 * Guesses count against the issuer and the caller's address, checked before the issuer is
 * read: an unknown issuer and a bad signature are failures; a valid signature with a wrong
 * time or qsh is not (its sender holds the secret), nor is one for an uninstalled
 * installation, so an app calling for an old installation does not lock out its others.
 */
export async function authenticateConnectJwt(
  credentials: AppCredentials,
  limiter: CredentialLimiter,
  token: string,
  request: { method: string; url: string; ip: string },
): Promise<AppPrincipal | undefined> {
  const jwt = decodeJws(token);
  if (!jwt) return undefined;
  const claims = jwt.payload;
  const issuer = claims.iss;
  if (typeof issuer !== 'string' || issuer.length === 0 || issuer.length > 255) return undefined;
  await limiter.check('connect-issuer', issuer, request.ip);
  // No installation can have a key no engine can store, and PostgreSQL would refuse to even look it up.
  const installation = isStorableText(issuer) ? await credentials.findInstallation(issuer) : undefined;
  if (!installation || !hasValidHs256Signature(jwt, installation.sharedSecret)) {
    await limiter.recordFailure('connect-issuer', issuer, request.ip);
    return undefined;
  }
  if (installation.uninstalled) return undefined;
  if (!hasValidTimes(claims, Math.floor(Date.now() / 1000))) return undefined;
  if (typeof claims.qsh !== 'string' || claims.qsh !== queryStringHash(request.method, request.url))
    return undefined;
  const sub = claims.sub;
  if (sub !== undefined && (typeof sub !== 'string' || !isValidAccountId(sub))) return undefined;
  return {
    kind: 'app',
    appKey: installation.appKey,
    via: 'jwt',
    installationId: installation.id,
    clientKey: installation.clientKey,
    siteIds: [installation.siteId],
    // A Connect installation holds every app scope; OAuth clients are narrowed per client.
    scopes: CONNECT_SCOPES,
    ...(sub === undefined ? {} : { actingAccountId: sub }),
  };
}
