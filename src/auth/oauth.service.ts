import { createHash, randomUUID, webcrypto } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import { verifySecret } from '../crypto/password-hash.js';
import { deriveKey } from '../crypto/secret-box.js';
import type { AppCredentials } from './app-credentials.port.js';
import type { CredentialLimiter } from './credential-limiter.js';
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

/**
 * OAuth 2.0 client credentials (RFC 6749 §4.4, docs/wire-contracts.md#oauth-20-client-credentials).
 * Access tokens are short-lived JWTs signed by Custos (HS256, a key derived from the master key),
 * bound to the client, its app and the granted scopes. Verification is stateless except for one
 * read that re-checks the client and the app's current installations, so revoking a client,
 * narrowing its scopes or uninstalling the app takes effect at once.
 */
export class OAuthService {
  /** Imported once: importing a WebCrypto key costs as much as using it. */
  private readonly key: Promise<webcrypto.CryptoKey>;

  constructor(
    private readonly credentials: AppCredentials,
    masterKey: Buffer,
    private readonly ttlSeconds: number,
    private readonly limiter: CredentialLimiter,
  ) {
    this.key = webcrypto.subtle.importKey(
      'raw',
      deriveKey(masterKey, 'oauth-access-token'),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign', 'verify'],
    );
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
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, await this.key, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: AUDIENCE,
        typ: TOKEN_TYPE,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch {
      return undefined;
    }
    const client = await this.credentials.findOAuthClient(String(payload.sub));
    if (!client || client.appKey !== payload.app || secretVersion(client.secretHash) !== payload.sv)
      return undefined;
    const siteIds = await this.credentials.listInstalledSiteIds(client.appKey);
    if (siteIds.length === 0) return undefined;
    const allowed = new Set(client.scopes);
    const granted = String(payload.scope ?? '')
      .split(' ')
      .filter((s) => allowed.has(s));
    return oauthAppPrincipal(client, siteIds, granted);
  }
}
