import { createQueryStringHash, fromMethodAndUrl } from 'atlassian-jwt';
import { decodeJwt, jwtVerify } from 'jose';
import type { SecretBox } from '../crypto/secret-box.js';
import type { Database } from '../db/dialect.js';
import { isValidAccountId } from '../directory/account.model.js';
import { findInstallationByClientKey } from '../directory/app.repository.js';
import { secretContext } from '../directory/secrets.js';
import { APP_SCOPES, type AppPrincipal } from './principal.js';

/** Clocks of apps and Custos differ a little; public clients sign with exp = iat + 180 s. */
const CLOCK_TOLERANCE_S = 30;

/** qsh exactly as atlassian-jwt computes it: SHA-256 of `METHOD&path&sorted-query`. */
export function queryStringHash(method: string, rawUrl: string): string {
  return createQueryStringHash(fromMethodAndUrl(method, rawUrl));
}

/**
 * Verifies a Connect-style JWT (reference §4): HS256 with the shared secret of the
 * installation named by `iss`, `exp` enforced, `qsh` bound to this very request.
 * Undefined for anything wrong (unknown issuer, uninstalled, bad signature, expired,
 * wrong qsh): the caller answers 401 without saying which, so probing learns nothing.
 */
export async function authenticateConnectJwt(
  database: Database,
  secrets: SecretBox,
  token: string,
  request: { method: string; url: string },
): Promise<AppPrincipal | undefined> {
  let issuer: unknown;
  try {
    issuer = decodeJwt(token).iss;
  } catch {
    return undefined;
  }
  if (typeof issuer !== 'string' || issuer.length === 0 || issuer.length > 255) return undefined;
  const installation = await findInstallationByClientKey(database.db, issuer);
  if (!installation || installation.uninstalled_at !== null) return undefined;
  const secret = secrets.decrypt(installation.shared_secret_enc, secretContext.installation(installation.id));
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, Buffer.from(secret, 'utf8'), {
      algorithms: ['HS256'],
      issuer,
      clockTolerance: CLOCK_TOLERANCE_S,
      requiredClaims: ['iat', 'exp', 'qsh'],
    }));
  } catch {
    return undefined;
  }
  if (payload.qsh !== queryStringHash(request.method, request.url)) return undefined;
  const sub = payload.sub;
  if (sub !== undefined && (typeof sub !== 'string' || !isValidAccountId(sub))) return undefined;
  return {
    kind: 'app',
    appKey: installation.app_key,
    via: 'jwt',
    installationId: installation.id,
    clientKey: installation.client_key,
    siteIds: [installation.site_id],
    // A Connect installation holds every app scope; OAuth clients are narrowed per client.
    scopes: new Set(APP_SCOPES),
    ...(sub === undefined ? {} : { actingAccountId: sub }),
    emailApiApproved: installation.email_api_approved === 1,
  };
}
