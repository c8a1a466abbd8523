import { createHash, randomUUID, webcrypto } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import { verifySecret } from '../crypto/password-hash.js';
import { deriveKey } from '../crypto/secret-box.js';
import type { Database } from '../db/dialect.js';
import { findInstalledSiteIds, findOAuthClient } from '../directory/app.repository.js';
import type { AppPrincipal } from './principal.js';

const ISSUER = 'custos';
const AUDIENCE = 'custos-api';
const TOKEN_TYPE = 'at+jwt';

/** RFC 6749 §5.2 error codes; the token endpoint answers in that shape, which OAuth clients parse. */
export class OAuthError extends Error {
  constructor(
    readonly error: 'invalid_request' | 'invalid_client' | 'unsupported_grant_type' | 'invalid_scope',
    readonly description: string,
  ) {
    super(description);
  }

  get status(): number {
    return this.error === 'invalid_client' ? 401 : 400;
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
 * OAuth 2.0 client credentials (reference §4). Access tokens are short-lived JWTs signed by
 * Custos (HS256, a key derived from the master key), bound to the client, its app and the
 * granted scopes. Verification is stateless except for one read that re-checks the client
 * and the app's current installations, so revoking a client, narrowing its scopes or
 * uninstalling the app takes effect at once.
 */
export class OAuthService {
  /** Imported once: importing a WebCrypto key costs as much as using it. */
  private readonly key: Promise<webcrypto.CryptoKey>;

  constructor(
    private readonly database: Database,
    masterKey: Buffer,
    private readonly ttlSeconds: number,
  ) {
    this.key = webcrypto.subtle.importKey(
      'raw',
      deriveKey(masterKey, 'oauth-access-token'),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign', 'verify'],
    );
  }

  async issueClientCredentialsToken(input: {
    clientId: string;
    clientSecret: string;
    scope?: string;
  }): Promise<IssuedToken> {
    const client = await findOAuthClient(this.database.db, input.clientId);
    // Verify a dummy hash for unknown clients as well, so timing does not tell which ids exist.
    const secretOk = await verifySecret(input.clientSecret, client?.secret_hash ?? DUMMY_HASH);
    if (!client || !secretOk) throw new OAuthError('invalid_client', 'Client authentication failed');
    if ((await findInstalledSiteIds(this.database.db, client.app_key)).length === 0)
      throw new OAuthError('invalid_client', 'The app is not installed on any site');
    const allowed: string[] = JSON.parse(client.scopes);
    const requested = input.scope?.split(' ').filter(Boolean);
    const denied = requested?.filter((s) => !allowed.includes(s)) ?? [];
    if (denied.length > 0)
      throw new OAuthError('invalid_scope', `Scope not allowed for this client: ${denied.join(' ')}`);
    const scope = (requested && requested.length > 0 ? [...new Set(requested)] : allowed).join(' ');
    const accessToken = await new SignJWT({
      scope,
      app: client.app_key,
      sv: secretVersion(client.secret_hash),
    })
      .setProtectedHeader({ alg: 'HS256', typ: TOKEN_TYPE })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(client.client_id)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .setJti(randomUUID())
      .sign(await this.key);
    return { access_token: accessToken, token_type: 'Bearer', expires_in: this.ttlSeconds, scope };
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
    const client = await findOAuthClient(this.database.db, String(payload.sub));
    if (!client || client.app_key !== payload.app || secretVersion(client.secret_hash) !== payload.sv)
      return undefined;
    const siteIds = await findInstalledSiteIds(this.database.db, client.app_key);
    if (siteIds.length === 0) return undefined;
    const allowed = new Set<string>(JSON.parse(client.scopes));
    const granted = String(payload.scope ?? '')
      .split(' ')
      .filter((s) => allowed.has(s));
    return {
      kind: 'app',
      appKey: client.app_key,
      via: 'oauth',
      oauthClientId: client.client_id,
      siteIds,
      scopes: new Set(granted),
    };
  }
}

/** A valid scrypt hash of a random value: verifying against it costs as much as a real check. */
const DUMMY_HASH =
  'scrypt$16384$8$1$c3RhdGljLXNhbHQtZm9yLWR1bW15$0000000000000000000000000000000000000000000';
