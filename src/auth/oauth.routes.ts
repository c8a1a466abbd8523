import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyError, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { classifyError } from '../errors/error-handler.js';
import { UNSTORABLE_TEXT_MESSAGE, unstorableField } from '../validation.js';
import { OAUTH_ERROR_CODES, OAuthError, type OAuthService } from './oauth.service.js';
import type { UserGrants } from './user-grants.port.js';

/** Grants that exchange what a person granted (docs/app-grants.md), answered by the grants domain. */
const USER_GRANT_TYPES = new Set(['authorization_code', 'refresh_token']);

const TOKEN_MEDIA_TYPES = 'application/x-www-form-urlencoded or application/json';

const TokenRequest = Type.Object(
  {
    grant_type: Type.Optional(Type.String({ maxLength: 100 })),
    client_id: Type.Optional(Type.String({ maxLength: 255 })),
    client_secret: Type.Optional(Type.String({ maxLength: 512 })),
    scope: Type.Optional(Type.String({ maxLength: 1000 })),
    code: Type.Optional(Type.String({ maxLength: 512, description: 'authorization_code: the code.' })),
    redirect_uri: Type.Optional(
      Type.String({ maxLength: 2048, description: 'authorization_code: the redirect URI of the request.' }),
    ),
    code_verifier: Type.Optional(
      Type.String({ maxLength: 128, description: 'authorization_code: the PKCE verifier.' }),
    ),
    refresh_token: Type.Optional(
      Type.String({ maxLength: 512, description: 'refresh_token: the refresh token.' }),
    ),
  },
  { description: 'Form-encoded or JSON. The client may authenticate with HTTP Basic instead of the body.' },
);

const TokenResponse = Type.Object(
  {
    access_token: Type.String(),
    token_type: Type.Literal('Bearer'),
    expires_in: Type.Integer({ description: 'Seconds.' }),
    scope: Type.String({ description: 'The granted scopes, space-separated.' }),
  },
  { additionalProperties: false },
);

const TokenError = Type.Object(
  { error: Type.Enum([...OAUTH_ERROR_CODES]), error_description: Type.Optional(Type.String()) },
  {
    additionalProperties: false,
    description:
      'RFC 6749 §5.2 error. 401 invalid_client comes with WWW-Authenticate; 429 slow_down with Retry-After (seconds).',
  },
);
const tokenErrors = Object.fromEntries([400, 401, 413, 415, 429, 500].map((status) => [status, TokenError]));

/** RFC 6749 §2.3.1: `Authorization: Basic base64(urlencode(id):urlencode(secret))`. */
function basicClient(header: string | undefined): { id: string; secret: string } | undefined {
  const match = header ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  try {
    return {
      id: decodeURIComponent(decoded.slice(0, colon)),
      secret: decodeURIComponent(decoded.slice(colon + 1)),
    };
  } catch {
    return undefined;
  }
}

/**
 * Every failure on the token endpoint in RFC 6749's shape, whatever raised it: the parser
 * (malformed JSON, media type, size), validation (400 naming the field), the credential
 * limiter, or a fault. The HTTP status stays that of the catalogue error.
 */
function toOAuthError(error: FastifyError, request: FastifyRequest): OAuthError {
  if (error instanceof OAuthError) return error;
  const known = classifyError(error, request);
  const options = { status: known.status, headers: known.headers };
  if (known.code === 'RATE_LIMITED') return new OAuthError('slow_down', known.message, options);
  if (known.code === 'UNSUPPORTED_MEDIA_TYPE')
    return new OAuthError('invalid_request', `Content-Type must be ${TOKEN_MEDIA_TYPES}`, options);
  return new OAuthError(known.status >= 500 ? 'server_error' : 'invalid_request', known.message, options);
}

/**
 * `POST /oauth/token` (docs/wire-contracts.md#oauth-20-client-credentials): client credentials
 * here; authorization_code and refresh_token (docs/app-grants.md) handed to the grants domain.
 * Errors use the RFC 6749 body `{error, error_description}` that OAuth client libraries parse.
 */
export const oauthRoutes: FastifyPluginAsyncTypebox<{
  oauth: OAuthService;
  userGrants?: UserGrants;
}> = async (app, { oauth, userGrants }) => {
  // Encapsulated: only this route accepts form bodies (RFC 6749 §4.4.2 requires them).
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(String(body))));
    },
  );
  // RFC 6749 §5.1: token responses must not be cached; errors are not either.
  app.addHook('onSend', async (_request, reply) => {
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
  });
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const oauthError = toOAuthError(error, request);
    for (const [name, value] of Object.entries(oauthError.headers)) reply.header(name, value);
    // RFC 6749 §5.2: invalid_client is 401 with a challenge for the scheme the client may use.
    if (oauthError.status === 401) reply.header('www-authenticate', 'Basic realm="custos"');
    return reply
      .code(oauthError.status)
      .type('application/json')
      .send({ error: oauthError.error, error_description: oauthError.message });
  });

  app.post(
    '/oauth/token',
    {
      config: { auth: { kind: 'public' } },
      schema: {
        tags: ['Authentication'],
        summary: 'Issues an access token (OAuth 2.0 client credentials, authorization code, refresh token)',
        description: `grant_type=client_credentials with client_id and client_secret (in the body or HTTP Basic) and an optional space-separated scope, as ${TOKEN_MEDIA_TYPES}. The token is a short-lived bearer token bound to the app and the granted scopes. Failed client authentications are limited per client id and per caller address: past the limit, 429 slow_down with Retry-After. grant_type=authorization_code (code, redirect_uri, code_verifier) and grant_type=refresh_token (refresh_token) exchange what a person granted the app; the answer then adds refresh_token when offline_access was granted, and refresh tokens rotate on every use.`,
        body: TokenRequest,
        response: { 200: TokenResponse, ...tokenErrors },
      },
    },
    async (request, reply) => {
      const body = request.body;
      if (body.grant_type === undefined) throw new OAuthError('invalid_request', 'grant_type is required');
      if (userGrants && USER_GRANT_TYPES.has(body.grant_type)) {
        const clientId = basicClient(request.headers.authorization)?.id ?? body.client_id ?? '';
        await oauth.limitClientAuthentication(clientId, request.ip, async () => {
          reply.hijack();
          await userGrants.exchange(request.raw, reply.raw, { ...body });
          return reply.raw;
        });
        return reply;
      }
      if (body.grant_type !== 'client_credentials')
        throw new OAuthError(
          'unsupported_grant_type',
          'grant_type must be client_credentials, authorization_code or refresh_token',
        );
      const basic = basicClient(request.headers.authorization);
      const unstorable = basic && unstorableField({ client_id: basic.id, client_secret: basic.secret });
      if (unstorable) throw new OAuthError('invalid_request', `${unstorable} ${UNSTORABLE_TEXT_MESSAGE}`);
      const clientId = basic?.id ?? body.client_id;
      const clientSecret = basic?.secret ?? body.client_secret;
      if (!clientId || !clientSecret)
        throw new OAuthError('invalid_client', 'Client credentials are required');
      return oauth.issueClientCredentialsToken({
        clientId,
        clientSecret,
        scope: body.scope,
        address: request.ip,
      });
    },
  );
};
