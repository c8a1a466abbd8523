import { createHash, createSecretKey, type KeyObject, randomUUID, webcrypto } from 'node:crypto';
import { SignJWT } from 'jose';
import { verifySecret } from '../crypto/password-hash.js';
import { deriveKey } from '../crypto/secret-box.js';
import type { AppCredentials, OAuthClientCredential } from './app-credentials.port.js';
import type { CredentialLimiter } from './credential-limiter.js';
import { type DecodedJws, decodeJws, hasValidHs256Signature } from './hs256.js';
import { type AppPrincipal, oauthAppPrincipal } from './principal.js';

const ISSUER = 'custos';
const AUDIENCE = 'custos-api';
const TOKEN_TYPE = 'at+jwt';

/**
 * The token endpoint's error codes: RFC 6749 §5.2, `slow_down` (registered for token
 * endpoint responses by RFC 8628 §3.5) for a caller over its failed sign-in budget, and
 * `server_error` (RFC 6749 §4.1.2.1) for a fault of Custos.
 */
export const OAUTH_ERROR_CODES = [
  'invalid_request',
  'invalid_client',
  'unsupported_grant_type',
  'invalid_scope',
  'slow_down',
  'server_error',
] as const;
export type OAuthErrorCode = (typeof OAUTH_ERROR_CODES)[number];

const DEFAULT_STATUS: Partial<Record<OAuthErrorCode, number>> = {
  invalid_client: 401,
  slow_down: 429,
  server_error: 500,
};

/** A token endpoint error, answered as the RFC 6749 body `{error, error_description}` that OAuth clients parse. */
export class OAuthError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(
    readonly error: OAuthErrorCode,
    description: string,
    options: { status?: number; headers?: Record<string, string> } = {},
  ) {
    // RFC 6749 §5.2 allows only %x20-21 / %x23-5B / %x5D-7E in error_description.
    super(description.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, '?'));
    this.status = options.status ?? DEFAULT_STATUS[error] ?? 400;
    this.headers = options.headers ?? {};
  }
}

export interface IssuedToken {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
}

/** Changes when the client's secret is rotated, so tokens issued under the old secret stop working. */
function secretVersion(secretHash: string): string {
  return createHash('sha256').update(secretHash).digest('base64url').slice(0, 16);
}

/** `typ` compared as RFC 7515 §4.1.9 allows it to be written: without case, `application/` implied. */
const normalizedTyp = (typ: unknown) =>
  typeof typ === 'string' ? typ.toLowerCase().replace(/^application\//, '') : undefined;

/**
 * The claims of one of Custos's own access tokens (RFC 9068): our issuer and audience, an
 * expiry still ahead (RFC 7519 §4.1.4, no leeway: Custos signed it by its own clock), and a
 * subject. `crit` is refused: Custos never sets it, so no extension is understood.
 */
function hasValidAccessTokenClaims(jws: DecodedJws, nowSeconds: number): boolean {
  const { header, payload } = jws;
  if (normalizedTyp(header.typ) !== TOKEN_TYPE || header.crit !== undefined) return false;
  if (payload.iss !== ISSUER) return false;
  const aud = payload.aud;
  if (aud !== AUDIENCE && !(Array.isArray(aud) && aud.includes(AUDIENCE))) return false;
  if (typeof payload.exp !== 'number' || !Number.isFinite(payload.exp) || payload.exp <= nowSeconds)
    return false;
  if (payload.nbf !== undefined && (typeof payload.nbf !== 'number' || payload.nbf > nowSeconds))
    return false;
  if (payload.iat !== undefined && typeof payload.iat !== 'number') return false;
  return payload.sub !== undefined && payload.sub !== null;
}

/**
 * OAuth 2.0 client credentials (RFC 6749 §4.4, docs/wire-contracts.md#oauth-20-client-credentials).
 * Access tokens are short-lived JWTs signed by Custos (HS256, a key derived from the master key),
 * bound to the client, its app and the granted scopes. Verification is stateless except for one
 * read that re-checks the client and the app's current installations, so revoking a client,
 * narrowing its scopes or uninstalling the app takes effect at once.
 */
export class OAuthService {
  /** Imported once: importing a WebCrypto key costs as much as using it. Signs tokens. */
  private readonly key: Promise<webcrypto.CryptoKey>;
  /** The same key for node:crypto, which checks tokens on every call (hs256.ts). */
  private readonly verifyKey: KeyObject;
  /** Secret versions by client credential (the credentials port hands out the same object while it is current). */
  private readonly versions = new WeakMap<object, string>();

  constructor(
    private readonly credentials: AppCredentials,
    masterKey: Buffer,
    private readonly ttlSeconds: number,
    private readonly limiter: CredentialLimiter,
  ) {
    const raw = deriveKey(masterKey, 'oauth-access-token');
    this.verifyKey = createSecretKey(raw);
    this.key = webcrypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, [
      'sign',
      'verify',
    ]);
  }

  /**
   * Failed client authentications count against the client id and the caller's address,
   * checked before the client is read, so a limited caller costs no scrypt. An unknown id
   * and a wrong secret cost the same scrypt and count the same, so neither timing nor the
   * limit tells which ids exist.
   */
  async issueClientCredentialsToken(input: {
    clientId: string;
    clientSecret: string;
    scope?: string;
    address: string;
  }): Promise<IssuedToken> {
    await this.limiter.check('oauth-client', input.clientId, input.address);
    const client = await this.credentials.findOAuthClient(input.clientId);
    // Verified whether or not the client exists (an absent hash costs the same scrypt).
    const secretOk = await verifySecret(input.clientSecret, client?.secretHash);
    if (!client || !secretOk) {
      await this.limiter.recordFailure('oauth-client', input.clientId, input.address);
      throw new OAuthError('invalid_client', 'Client authentication failed');
    }
    if ((await this.credentials.listInstalledSiteIds(client.appKey)).length === 0)
      throw new OAuthError('invalid_client', 'The app is not installed on any site');
    const allowed = client.scopes;
    const requested = input.scope?.split(' ').filter(Boolean);
    const denied = requested?.filter((s) => !allowed.includes(s)) ?? [];
    if (denied.length > 0)
      throw new OAuthError('invalid_scope', `Scope not allowed for this client: ${denied.join(' ')}`);
    const scope = (requested && requested.length > 0 ? [...new Set(requested)] : allowed).join(' ');
    const accessToken = await new SignJWT({
      scope,
      app: client.appKey,
      sv: secretVersion(client.secretHash),
    })
      .setProtectedHeader({ alg: 'HS256', typ: TOKEN_TYPE })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(client.clientId)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .setJti(randomUUID())
      .sign(await this.key);
    return { access_token: accessToken, token_type: 'Bearer', expires_in: this.ttlSeconds, scope };
  }

  /**
   * The same failed sign-in budget for the grants the authorization server answers
   * (authorization_code, refresh_token): checked before, and a refused client counted after.
   */
  async limitClientAuthentication<T extends { statusCode: number }>(
    clientId: string,
    address: string,
    answer: () => Promise<T>,
  ): Promise<T> {
    await this.limiter.check('oauth-client', clientId, address);
    const answered = await answer();
    if (answered.statusCode === 401) await this.limiter.recordFailure('oauth-client', clientId, address);
    return answered;
  }

  /** The app behind a bearer token, or undefined when the token is not (or no longer) valid. */
  async authenticateBearer(token: string): Promise<AppPrincipal | undefined> {
    const jws = decodeJws(token);
    if (!jws || !hasValidHs256Signature(jws, this.verifyKey)) return undefined;
    if (!hasValidAccessTokenClaims(jws, Math.floor(Date.now() / 1000))) return undefined;
    const payload = jws.payload;
    const client = await this.credentials.findOAuthClient(String(payload.sub));
    if (!client || client.appKey !== payload.app || this.secretVersionOf(client) !== payload.sv)
      return undefined;
    const siteIds = await this.credentials.listInstalledSiteIds(client.appKey);
    if (siteIds.length === 0) return undefined;
    const allowed = new Set(client.scopes);
    const granted = String(payload.scope ?? '')
      .split(' ')
      .filter((s) => allowed.has(s));
    return oauthAppPrincipal(client, siteIds, granted);
  }

  private secretVersionOf(client: OAuthClientCredential): string {
    let version = this.versions.get(client);
    if (version === undefined) {
      version = secretVersion(client.secretHash);
      this.versions.set(client, version);
    }
    return version;
  }
}
