import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { UNSTORABLE_TEXT_MESSAGE, unstorableField } from '../validation.js';
import { OAuthError, type OAuthService } from './oauth.service.js';
import {
  answerWithinClientBudget,
  basicClient,
  OAuthErrorBody,
  oauthErrorHandler,
} from './oauth-endpoint.js';
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

/**
 * A form body as its parameters. RFC 6749 §3.2: request parameters must not be included more
 * than once, so a repeated one is invalid_request (§5.2) rather than read as its first or
 * last value: a client library and Custos could otherwise disagree on which client or grant
 * a request names.
 */
export function parseTokenForm(body: string): Record<string, string> {
  const form = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(body)) {
    if (form.has(name)) throw new OAuthError('invalid_request', `${name.slice(0, 100)} is repeated`);
    form.set(name, value);
  }
  return Object.fromEntries(form);
}

const tokenErrors = Object.fromEntries(
  [400, 401, 413, 415, 429, 500].map((status) => [status, OAuthErrorBody]),
);

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
      try {
        done(null, parseTokenForm(String(body)));
      } catch (error) {
        done(error as OAuthError, undefined);
      }
    },
  );
  // RFC 6749 §5.1: token responses must not be cached; errors are not either.
  app.addHook('onSend', async (_request, reply) => {
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
  });
  app.setErrorHandler(oauthErrorHandler(TOKEN_MEDIA_TYPES));

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
        return answerWithinClientBudget(oauth, request, reply, body.client_id, () =>
          userGrants.exchange(request.raw, reply.raw, { ...body }),
        );
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
