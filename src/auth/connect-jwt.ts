import { createHmac, timingSafeEqual } from 'node:crypto';
import { createQueryStringHash, fromMethodAndUrl } from 'atlassian-jwt';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { isValidAccountId } from '../shared/account-id.js';
import { isStorableText } from '../validation.js';
import type { AppCredentials } from './app-credentials.port.js';
import type { CredentialLimiter } from './credential-limiter.js';
import type { AppPrincipal } from './principal.js';
import { APP_SCOPE_NAMES } from './scopes.js';

/** Clocks of apps and Custos differ a little; public clients sign with exp = iat + 180 s. */
const CLOCK_TOLERANCE_S = 30;

/**
 * The HS256 signature check, done with node:crypto. WebCrypto (which jose uses) runs each
 * HMAC on the thread pool, ten times the cost of the HMAC itself, and this check is on the
 * path of every app call. The comparison is constant-time; the header must say HS256, so
 * no `alg` confusion (none, RS256 with the secret as a public key) is possible.
 */
function hasValidHs256Signature(token: string, secret: string): boolean {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[0] || !parts[1] || !parts[2]) return false;
  try {
    if (decodeProtectedHeader(token).alg !== 'HS256') return false;
  } catch {
    return false;
  }
  const expected = createHmac('sha256', secret).update(`${parts[0]}.${parts[1]}`).digest();
  const presented = Buffer.from(parts[2], 'base64url');
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** Registered claims (RFC 7519 §4.1) as Connect uses them: exp and iat required, with the clock skew. */
function hasValidTimes(claims: Record<string, unknown>, nowSeconds: number): boolean {
  if (!isNumber(claims.exp) || !isNumber(claims.iat)) return false;
  if (claims.exp <= nowSeconds - CLOCK_TOLERANCE_S) return false;
  if (claims.iat > nowSeconds + CLOCK_TOLERANCE_S) return false;
  return claims.nbf === undefined || (isNumber(claims.nbf) && claims.nbf <= nowSeconds + CLOCK_TOLERANCE_S);
}

/** qsh exactly as atlassian-jwt computes it: SHA-256 of `METHOD&path&sorted-query`. */
export function queryStringHash(method: string, rawUrl: string): string {
  return createQueryStringHash(fromMethodAndUrl(method, rawUrl));
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
  let claims: Record<string, unknown>;
  try {
    claims = decodeJwt(token);
  } catch {
    return undefined;
  }
  const issuer = claims.iss;
  if (typeof issuer !== 'string' || issuer.length === 0 || issuer.length > 255) return undefined;
  await limiter.check('connect-issuer', issuer, request.ip);
  // No installation can have a key no engine can store, and PostgreSQL would refuse to even look it up.
  const installation = isStorableText(issuer) ? await credentials.findInstallation(issuer) : undefined;
  if (!installation || !hasValidHs256Signature(token, installation.sharedSecret)) {
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
    scopes: new Set(APP_SCOPE_NAMES),
    ...(sub === undefined ? {} : { actingAccountId: sub }),
  };
}
