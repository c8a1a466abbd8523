import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { fromValidation } from '../errors/error-handler.js';
import { UNSTORABLE_TEXT_MESSAGE, unstorableField } from '../validation.js';
import { OAuthError, type OAuthService } from './oauth.service.js';

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
  { error: Type.String(), error_description: Type.Optional(Type.String()) },
  { additionalProperties: false, description: 'RFC 6749 §5.2 error.' },
);

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
 * `POST /oauth/token` (reference §4): client credentials only; 3LO comes later. Errors use
 * the RFC 6749 body `{error, error_description}` that OAuth client libraries parse.
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

  app.post(
    '/oauth/token',
    {
      config: { auth: { kind: 'public' } },
      attachValidation: true,
      schema: {
        tags: ['Authentication'],
        summary: 'Issues an access token (OAuth 2.0 client credentials)',
        description:
          'grant_type=client_credentials with client_id and client_secret (in the body or HTTP Basic) and an optional space-separated scope. The token is a short-lived bearer token bound to the app and the granted scopes.',
        body: TokenRequest,
        response: { 200: TokenResponse, 400: TokenError, 401: TokenError },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
      try {
        const invalid = request.validationError?.validation;
        if (invalid) throw new OAuthError('invalid_request', fromValidation(invalid, 'body').message);
        if (request.validationError || typeof request.body !== 'object' || request.body === null)
          throw new OAuthError('invalid_request', 'Malformed token request');
        const body = request.body;
        if (body.grant_type !== 'client_credentials')
          throw new OAuthError('unsupported_grant_type', 'Only grant_type=client_credentials is supported');
        const basic = basicClient(request.headers.authorization);
        const unstorable = basic && unstorableField({ client_id: basic.id, client_secret: basic.secret });
        if (unstorable) throw new OAuthError('invalid_request', `${unstorable} ${UNSTORABLE_TEXT_MESSAGE}`);
        const clientId = basic?.id ?? body.client_id;
        const clientSecret = basic?.secret ?? body.client_secret;
        if (!clientId || !clientSecret)
          throw new OAuthError('invalid_client', 'Client credentials are required');
        return await oauth.issueClientCredentialsToken({ clientId, clientSecret, scope: body.scope });
      } catch (error) {
        if (!(error instanceof OAuthError)) throw error;
        if (error.status === 401) reply.header('www-authenticate', 'Basic realm="custos"');
        return reply
          .code(error.status as 400 | 401)
          .send({ error: error.error, error_description: error.description });
      }
    },
  );
};
