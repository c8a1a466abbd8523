import type { JWK } from 'jose';
import Provider, { type OidcContext, type ProviderClient } from 'oidc-provider';
import { APP_SCOPE_NAMES, USER_GRANT_SCOPE_NAMES } from '../auth/scopes.js';
import { verifySecret } from '../crypto/password-hash.js';
import { GRANT_ROUTES } from './grant-routes.js';
import type { ProviderAdapter } from './provider-adapter.js';

const DAY_S = 24 * 60 * 60;

export interface AuthorizationServerOptions {
  issuer: string;
  /** Private JWKs, the signing one first (signing-keys.ts). */
  keys: JWK[];
  /** Keys of the server's own cookies (interaction and its session). */
  cookieKeys: string[];
  adapter: new (model: string) => ProviderAdapter;
  /** Whether the account exists and is open: a closed account grants nothing. */
  isActiveAccount(accountId: string): Promise<boolean>;
  accessTokenTtlSeconds: number;
  trustProxy: boolean;
}

const escapeHtml = (value: unknown) =>
  String(value).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

/**
 * The OAuth 2.0 authorization server for user grants ("3LO"): oidc-provider v8, configured
 * for the authorization code flow only, with Custos's own interaction pages, storage and keys.
 * Tokens are opaque (looked up on every call, so removing a grant ends them at once) and bound
 * to the grant, not to the browser session that made it; refresh tokens rotate on every use,
 * and a rotated one used again revokes the whole grant.
 */
export function createAuthorizationServer(options: AuthorizationServerOptions): Provider {
  const provider = new Provider(options.issuer, {
    adapter: options.adapter,
    clients: [],
    async findAccount(_ctx: unknown, accountId: string) {
      if (!(await options.isActiveAccount(accountId))) return undefined;
      return { accountId, claims: async () => ({ sub: accountId }) };
    },
    jwks: { keys: options.keys },
    cookies: {
      keys: options.cookieKeys,
      names: {
        session: 'custos-oauth-session',
        interaction: 'custos-oauth-interaction',
        resume: 'custos-oauth-resume',
      },
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    features: {
      devInteractions: { enabled: false },
      // An app may introspect its own tokens only; anything else is answered active: false.
      introspection: {
        enabled: true,
        allowedPolicy: async (_ctx: unknown, client: { clientId: string }, token: { clientId?: string }) =>
          token.clientId === client.clientId,
      },
      revocation: { enabled: true },
      userinfo: { enabled: false },
      rpInitiatedLogout: { enabled: false },
    },
    routes: {
      authorization: GRANT_ROUTES.authorization,
      token: GRANT_ROUTES.token,
      revocation: GRANT_ROUTES.revocation,
      introspection: GRANT_ROUTES.introspection,
      jwks: GRANT_ROUTES.jwks,
    },
    interactions: {
      url: async (_ctx: unknown, interaction: { uid: string }) =>
        `${GRANT_ROUTES.interaction}/${interaction.uid}`,
    },
    scopes: ['openid', ...USER_GRANT_SCOPE_NAMES, ...APP_SCOPE_NAMES],
    claims: { openid: ['sub'] },
    responseTypes: ['code'],
    // The documented platform's clients send `audience`; Custos is the only audience.
    extraParams: ['audience'],
    pkce: {
      methods: ['S256'],
      required: (_ctx: unknown, client: { clientAuthMethod: string }) => client.clientAuthMethod === 'none',
    },
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
      id_token_signed_response_alg: 'RS256',
    },
    // Tokens live as long as the grant, not as long as the browser session that made it.
    expiresWithSession: async () => false,
    rotateRefreshToken: () => true,
    // Reusing an authorization code or a rotated refresh token revokes the grant; an app
    // revoking one of its own tokens (RFC 7009) revokes that token only.
    revokeGrantPolicy: (ctx: OidcContext) => ctx.oidc.route !== 'revocation',
    ttl: {
      AccessToken: options.accessTokenTtlSeconds,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 3600,
      Session: DAY_S,
      RefreshToken: 90 * DAY_S,
      Grant: 365 * DAY_S,
    },
    async renderError(ctx: { type: string; body: string }, out: Record<string, unknown>) {
      ctx.type = 'html';
      ctx.body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Authorization failed · Custos</title>
<link rel="stylesheet" href="/assets/custos.css"></head>
<body><main id="main"><h1>The app's request could not be completed</h1>
${Object.entries(out)
  .map(([key, value]) => `<p><strong>${escapeHtml(key)}</strong>: ${escapeHtml(value)}</p>`)
  .join('\n')}
</main></body></html>`;
    },
  });
  provider.proxy = options.trustProxy;
  // Client secrets are stored as scrypt hashes only (directory): the library's client record
  // carries the hash, and the secret presented is checked against it.
  provider.Client.prototype.compareClientSecret = function (
    this: ProviderClient & { clientSecret: string },
    actual,
  ) {
    return verifySecret(actual, this.clientSecret);
  };
  return provider;
}
