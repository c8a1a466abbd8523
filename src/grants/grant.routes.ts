import fastifyCookie from '@fastify/cookie';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { OAuthService } from '../auth/oauth.service.js';
import { answerWithinClientBudget, OAuthErrorBody, oauthErrorHandler } from '../auth/oauth-endpoint.js';
import type { PersonAuthenticator } from '../auth/person-auth.js';
import { appOf } from '../auth/principal.js';
import { READ_ME_SCOPE } from '../auth/scopes.js';
import { GRANT_ROUTES, type GrantService } from './grant.service.js';

const open = { auth: { kind: 'public' } } as const;
// The protocol endpoints answer in their RFCs' own shapes, from the authorization server;
// docs/app-grants.md documents them.
const hidden = { hide: true };

const AccessibleResource = Type.Object(
  {
    id: Type.String(),
    url: Type.String(),
    name: Type.String(),
    scopes: Type.Array(Type.String()),
  },
  { additionalProperties: false },
);

interface GrantRouteOptions {
  grants: GrantService;
  /** The failed sign-in budget of OAuth clients, shared with the token endpoint. */
  oauth: Pick<OAuthService, 'limitClientAuthentication'>;
  /** Who is signed in to Custos on the browser (its session cookie), for the authorization endpoint. */
  people: Pick<PersonAuthenticator, 'find'>;
}

/**
 * The authorization server's endpoints (docs/app-grants.md): authorization (a browser
 * navigation that ends on Custos's sign-in and consent pages), revocation (RFC 7009),
 * introspection (RFC 7662), the JWKS and discovery. The token endpoint is auth's
 * `POST /oauth/token`, which hands these grants over.
 */
export const grantRoutes: FastifyPluginAsyncTypebox<GrantRouteOptions> = async (
  app,
  { grants, oauth, people },
) => {
  const delegate = async (request: FastifyRequest, reply: FastifyReply) => {
    reply.hijack();
    await grants.handle(request.raw, reply.raw);
    return reply;
  };
  for (const url of [GRANT_ROUTES.jwks, GRANT_ROUTES.discovery]) {
    app.get(url, { config: open, schema: hidden }, delegate);
  }
  await app.register(authorizationRoutes, { grants, people });
  await app.register(clientAuthenticatedRoutes, { grants, oauth });

  app.get(
    '/oauth/token/accessible-resources',
    {
      config: { auth: { kind: 'app', scope: READ_ME_SCOPE, via: ['oauth'] } },
      schema: {
        tags: ['Authentication'],
        summary: 'Lists the sites a granted token reaches',
        description:
          'For a token a person granted the app (read:me): the sites the app is installed on, with the scopes of the token.',
        response: { 200: Type.Array(AccessibleResource) },
      },
    },
    async (request) => grants.accessibleResources(appOf(request)),
  );
};

/**
 * The authorization endpoint and where an interaction resumes it: the server answers for the
 * person signed in to Custos on this browser, or for nobody (docs/app-grants.md#signing-out).
 * Public routes (an app sends a browser here), so the session is only read, never required.
 */
const authorizationRoutes: FastifyPluginAsyncTypebox<Pick<GrantRouteOptions, 'grants' | 'people'>> = async (
  app,
  { grants, people },
) => {
  // Only here outside the pages' context: the endpoint reads the session cookie.
  await app.register(fastifyCookie);
  const authorize = async (request: FastifyRequest, reply: FastifyReply) => {
    const person = await people.find(request);
    reply.hijack();
    await grants.authorize(request.raw, reply.raw, person?.accountId);
    return reply;
  };
  for (const url of [GRANT_ROUTES.authorization, `${GRANT_ROUTES.authorization}/:uid`]) {
    app.get(url, { config: open, schema: hidden }, authorize);
  }
};

/**
 * Revocation and introspection: the client authenticates as at the token endpoint, within
 * the same failed sign-in budget (per client id and per caller address), and every error
 * Custos answers before the server is in RFC 6749 §5.2's shape (RFC 7009 §2.2.1, RFC 7662 §2.3).
 */
const clientAuthenticatedRoutes: FastifyPluginAsyncTypebox<Omit<GrantRouteOptions, 'people'>> = async (
  app,
  { grants, oauth },
) => {
  // Only here: they take form bodies (RFC 7009 §2.1, RFC 7662 §2.1), handed on as read.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => done(null, body),
  );
  app.setErrorHandler(oauthErrorHandler('application/x-www-form-urlencoded'));
  const answer = async (request: FastifyRequest, reply: FastifyReply) => {
    const form = typeof request.body === 'string' ? new URLSearchParams(request.body) : undefined;
    return answerWithinClientBudget(oauth, request, reply, form?.get('client_id') ?? undefined, () => {
      // The stream has been read: the server takes the body from the request instead.
      if (request.body !== undefined) Object.assign(request.raw, { body: request.body });
      return grants.handle(request.raw, reply.raw);
    });
  };
  // The server answers on the raw response; these schemas serialize Custos's own errors.
  const schema = { ...hidden, response: { 401: OAuthErrorBody, 429: OAuthErrorBody } };
  for (const url of [GRANT_ROUTES.revocation, GRANT_ROUTES.introspection]) {
    app.post(url, { config: open, schema }, answer);
  }
};
