import type { RouteOptions } from 'fastify';
import { ErrorBody } from '../errors/error.schemas.js';
import type { RouteAuth } from './principal.js';
import { API_CLIENT_SCOPES, APP_SCOPES, USER_GRANT_SCOPES } from './scopes.js';

type SecurityRequirement = Record<string, string[]>;
type ResponseSchemas = Record<string, unknown>;

/** Methods whose requests carry a body that Fastify parses (and can refuse). */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * The OpenAPI security schemes, scopes taken from the catalogue. API client scopes have no
 * place in an HTTP Basic scheme (OpenAPI 3.0 lists scopes for OAuth 2.0 only), so they are
 * described in words and each route names its own in `x-custos-scope`.
 */
export function securitySchemes(sessionCookieName: string) {
  const clientScopes = Object.entries(API_CLIENT_SCOPES)
    .map(([scope, grants]) => `\`${scope}\`: ${grants}`)
    .join('; ');
  return {
    basic: {
      type: 'http',
      scheme: 'basic',
      description: `email:API token. The scopes an API client may hold: ${clientScopes}.`,
    },
    connectJwt: {
      type: 'apiKey',
      in: 'header',
      name: 'Authorization',
      description:
        "Connect-style JWT: `Authorization: JWT <token>`, HS256 with the installation's sharedSecret; iss = clientKey, exp, and qsh (the atlassian-jwt query string hash of this request) required; optional sub = acting accountId.",
    },
    oauth2: {
      type: 'oauth2',
      description:
        'OAuth 2.0 client credentials, or a token a person granted the app (authorization code with PKCE, docs/app-grants.md); send the token as `Authorization: Bearer <token>`.',
      flows: {
        clientCredentials: { tokenUrl: '/oauth/token', scopes: { ...APP_SCOPES } },
        authorizationCode: {
          authorizationUrl: '/authorize',
          tokenUrl: '/oauth/token',
          refreshUrl: '/oauth/token',
          scopes: { ...USER_GRANT_SCOPES, ...APP_SCOPES },
        },
      },
    },
    session: {
      type: 'apiKey',
      in: 'cookie',
      name: sessionCookieName,
      description: "A signed-in person's session (the pages for people).",
    },
  } as const;
}

/** Who may call, as OpenAPI says it: one requirement per accepted scheme; none for a public route. */
function securityOf(auth: RouteAuth): SecurityRequirement[] | undefined {
  switch (auth.kind) {
    case 'public':
      return undefined;
    case 'api-client':
      return [{ basic: [] }];
    case 'app':
      return auth.via.map(
        (scheme): SecurityRequirement => (scheme === 'jwt' ? { connectJwt: [] } : { oauth2: [auth.scope] }),
      );
    case 'account':
    case 'operator':
      return [{ session: [] }];
  }
}

/**
 * Routes that verify a guessable credential (API tokens, Connect JWTs) answer 429 once the
 * caller's failures are used up (CredentialLimiter); an OAuth bearer token is signed, so no
 * guess reaches the limiter.
 */
function credentialLimited(auth: RouteAuth): boolean {
  return auth.kind === 'api-client' || (auth.kind === 'app' && auth.via.includes('jwt'));
}

/**
 * The error statuses a route can answer, read from its declaration:
 * - 400: it validates a body, query string or path parameters, or takes a body (malformed JSON);
 * - 401 and 403: it is not public (no or a bad credential; a scope, permission, origin or CSRF refusal);
 * - 429: it is rate limited, or it checks a guessable credential (the failed sign-in limit);
 * - 413 and 415: it takes a body (too large; not a media type it parses);
 * - 500: always; 503: always (the database busy past the lock wait, or the server closing).
 * Statuses only a route's own rules produce (404, 409, …) are declared by the route.
 */
export function answerableErrors(route: RouteOptions, auth: RouteAuth): number[] {
  const schema = route.schema ?? {};
  const takesBody = [route.method].flat().some((m) => BODY_METHODS.has(m));
  const statuses = [500, 503];
  if (schema.body || schema.querystring || schema.params || takesBody) statuses.push(400);
  if (auth.kind !== 'public') statuses.push(401, 403);
  if (credentialLimited(auth) || route.config?.rateLimit) statuses.push(429);
  if (takesBody) statuses.push(413, 415);
  return statuses.sort((a, b) => a - b);
}

/**
 * Completes a route's OpenAPI from its `config.auth`: the security requirement (never
 * written by hand, so the document cannot disagree with the check) and a response schema
 * for every error status it can answer that it does not declare itself. Added statuses use
 * the error shape the route already answers in (the report-accounts contract and RFC 6749
 * have their own), else the common one. The response schemas are also the serializers.
 */
export function documentRoute(route: RouteOptions, auth: RouteAuth): void {
  const schema = route.schema ?? {};
  if (schema.security !== undefined)
    throw new Error(
      `Route ${route.method} ${route.url} writes its OpenAPI security by hand; it is derived from config.auth`,
    );
  const response = { ...((schema.response ?? {}) as ResponseSchemas) };
  const ownError = Object.entries(response).find(([status]) => Number(status) >= 400)?.[1];
  for (const status of answerableErrors(route, auth))
    if (response[status] === undefined) response[status] = ownError ?? ErrorBody;
  const security = securityOf(auth);
  // OpenAPI extensions (`x-…`) pass into the document: the scope or permission the route
  // checks, and whether it has a request budget (429 with Retry-After past it).
  const extensions = {
    ...(auth.kind === 'api-client' ? { 'x-custos-scope': auth.scope } : {}),
    ...(auth.kind === 'operator' ? { 'x-custos-permission': auth.permission } : {}),
    ...(route.config?.rateLimit ? { 'x-custos-rate-limited': true } : {}),
  };
  route.schema = { ...schema, response, ...(security ? { security } : {}), ...extensions };
}
