import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyError, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { classifyError } from '../errors/error-handler.js';
import { UNSTORABLE_TEXT_MESSAGE, unstorableField } from '../validation.js';
import { OAUTH_ERROR_CODES, OAuthError, type OAuthService } from './oauth.service.js';

const TOKEN_MEDIA_TYPES = 'application/x-www-form-urlencoded or application/json';

const TokenRequest = Type.Object(
  {
    grant_type: Type.Optional(Type.String({ maxLength: 100 })),
    client_id: Type.Optional(Type.String({ maxLength: 255 })),
    client_secret: Type.Optional(Type.String({ maxLength: 512 })),
    scope: Type.Optional(Type.String({ maxLength: 1000 })),
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
 * only; 3LO comes later. Errors use the RFC 6749 body `{error, error_description}` that OAuth
 * client libraries parse.
 */
export const oauthRoutes: FastifyPluginAsyncTypebox<{ oauth: OAuthService }> = async (app, { oauth }) => {
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
        summary: 'Issues an access token (OAuth 2.0 client credentials)',
        description: `grant_type=client_credentials with client_id and client_secret (in the body or HTTP Basic) and an optional space-separated scope, as ${TOKEN_MEDIA_TYPES}. The token is a short-lived bearer token bound to the app and the granted scopes. Failed client authentications are limited per client id and per caller address: past the limit, 429 slow_down with Retry-After.`,
        body: TokenRequest,
        response: { 200: TokenResponse, ...tokenErrors },
      },
    },
    async (request) => {
      const body = request.body;
      if (body.grant_type === undefined) throw new OAuthError('invalid_request', 'grant_type is required');
      if (body.grant_type !== 'client_credentials')
        throw new OAuthError('unsupported_grant_type', 'Only grant_type=client_credentials is supported');
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
