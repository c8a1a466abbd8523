import type { IncomingMessage } from 'node:http';
import type { JWK } from 'jose';
import Provider, {
  type GrantLookupContext,
  interactionPolicy,
  type OidcContext,
  type ProviderClient,
} from 'oidc-provider';
import { APP_SCOPE_NAMES, USER_GRANT_SCOPE_NAMES } from '../auth/scopes.js';
import { verifySecret } from '../crypto/password-hash.js';
import { GRANT_ROUTES } from './grant-routes.js';
import type { ProviderAdapter } from './provider-adapter.js';
import { PROVIDER_COOKIES } from './provider-session.js';

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
  /** The id of the person's live grant to the app (one per person and app), if they gave one. */
  grantIdOf(accountId: string, clientId: string): Promise<string | undefined>;
  accessTokenTtlSeconds: number;
  /** How long the server's session lasts after the last request that used it (renewed on each). */
  sessionTtlSeconds: number;
  /**
   * Who is signed in to Custos on the browser that sent this request to the authorization
   * endpoint (GrantService.authorize), if anyone: the server's session must be theirs.
   */
  signedInAccount(request: IncomingMessage): string | undefined;
  trustProxy: boolean;
  /** The public URL is https: every cookie is Secure, as Custos's own (sessions/session-cookie.ts). */
  https: boolean;
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
  // Secure follows the public URL, as Custos's own cookies do, not whether this hop was TLS:
  // behind a TLS-terminating proxy that is not trusted, the server would otherwise leave it off.
  const cookie = {
    signed: true,
    httpOnly: true,
    sameSite: 'lax',
    ...(options.https ? { secure: true } : {}),
  };
  const provider = new Provider(options.issuer, {
    adapter: options.adapter,
    clients: [],
    async findAccount(_ctx: unknown, accountId: string) {
      if (!(await options.isActiveAccount(accountId))) return undefined;
      return { accountId, claims: async () => ({ sub: accountId }) };
    },
    jwks: { keys: options.keys },
    // A grant is the person's, not the browser session's (docs/app-grants.md#signing-out): a
    // new session (after signing out, on another browser) finds it, so the consent page is
    // shown only when the app asks for more than was granted or sends prompt=consent. The
    // library's default looks only in the session. The library looks grants up before its
    // login checks run, and when a request resumes after the sign-in step its account is the
    // one that step signed in, who may no longer be the person signed in to Custos (someone
    // else signed in meanwhile): a stored grant is only looked up for that person.
    async loadExistingGrant(ctx: GrantLookupContext) {
      const { oidc } = ctx;
      const inSession = oidc.result?.consent?.grantId ?? oidc.session.grantIdFor(oidc.client.clientId);
      const found = inSession === undefined ? undefined : await oidc.provider.Grant.find(inSession);
      const accountId = oidc.account?.accountId;
      if (found || accountId === undefined || accountId !== options.signedInAccount(ctx.req)) return found;
      const stored = await options.grantIdOf(accountId, oidc.client.clientId);
      return stored === undefined ? undefined : oidc.provider.Grant.find(stored);
    },
    cookies: {
      keys: options.cookieKeys,
      names: PROVIDER_COOKIES,
      long: cookie,
      short: cookie,
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
      policy: interactionPolicyOf(options.signedInAccount),
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
      Session: options.sessionTtlSeconds,
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
  // The server builds its own absolute URLs (where an interaction resumes) and decides whether
  // a cookie may be Secure from the request's protocol. With an https public URL, browsers
  // reach it over https whatever the hop before this process was: Koa's request prototype
  // (provider.app.request) answers so, and the Secure cookies above may be set.
  if (options.https) Object.defineProperty(provider.app.request, 'protocol', { get: () => 'https' });
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

/**
 * The default prompts (login, then consent) with one more reason to ask for sign-in: the
 * server's session is not the person signed in to Custos on this browser (nobody is, or
 * someone else is). The login step is Custos's page, guarded by the Custos session, so a
 * code is only ever issued for the person signed in there (docs/app-grants.md#signing-out).
 * With prompt=none this is answered `login_required`.
 */
function interactionPolicyOf(signedInAccount: (request: IncomingMessage) => string | undefined) {
  const policy = interactionPolicy.base();
  policy
    .get('login')
    ?.checks.add(
      new interactionPolicy.Check(
        'custos_session',
        'The person signed in to Custos is not the one the authorization server remembers',
        'login_required',
        (ctx) => ctx.oidc.session.accountId !== signedInAccount(ctx.req),
      ),
    );
  return policy;
}
