import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError, validationError } from '../errors/app-error.js';
import { UNSTORABLE_TEXT_MESSAGE, unstorableField } from '../validation.js';
import type { TokenAuthenticator } from './api-token.service.js';
import { type AppAuthenticator, parseAppAuthorization } from './app-auth.js';
import { isPersonAuth, type PersonAuthenticator } from './person-auth.js';
import type { ApiClientPrincipal, AppPrincipal, RouteAuth } from './principal.js';
import { documentRoute } from './route-docs.js';

const BASIC_CHALLENGE = { 'WWW-Authenticate': 'Basic realm="custos"' };
const APP_CHALLENGE: Record<string, string> = {
  jwt: 'JWT realm="custos"',
  oauth: 'Bearer realm="custos"',
};

function parseBasic(header: string | undefined): { email: string; token: string } | undefined {
  if (!header) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  // Tokens never contain ':'; an email (in theory) may, so split at the last one.
  const colon = decoded.lastIndexOf(':');
  if (colon <= 0) return undefined;
  return { email: decoded.slice(0, colon), token: decoded.slice(colon + 1) };
}

/**
 * The principal check every route goes through. A route must declare `config.auth`; one
 * that does not is refused when it is registered, so no route can ship without a decision.
 * The declaration also writes the route's OpenAPI security and standard error responses
 * (route-docs.ts). The check runs on request, before the body is parsed.
 */
export const authPlugin = fp(
  async (
    app: FastifyInstance,
    opts: {
      tokens: TokenAuthenticator;
      appAuth: AppAuthenticator;
      people: PersonAuthenticator;
      publicPrefixes: string[];
    },
  ) => {
    function basicCredentials(presented: string) {
      const credentials = parseBasic(presented);
      const unstorable = credentials && unstorableField(credentials);
      if (unstorable) throw validationError(`authorization.${unstorable}`, UNSTORABLE_TEXT_MESSAGE);
      return credentials;
    }

    function withScope(principal: ApiClientPrincipal, scope: string): ApiClientPrincipal {
      if (!principal.scopes.has(scope))
        throw new AppError('FORBIDDEN', `This API client lacks the scope ${scope}`);
      return principal;
    }

    /**
     * The principal of the same Authorization header checked a moment ago (TokenAuthenticator's
     * cache), or undefined. Such a header was parsed and validated when it was checked.
     */
    function rememberedApiClient(request: FastifyRequest, scope: string): ApiClientPrincipal | undefined {
      const presented = request.headers.authorization;
      const principal = presented ? opts.tokens.remembered(presented) : undefined;
      return principal && withScope(principal, scope);
    }

    async function apiClient(request: FastifyRequest, scope: string): Promise<ApiClientPrincipal> {
      const presented = request.headers.authorization ?? '';
      const credentials = basicCredentials(presented);
      const principal = credentials && (await opts.tokens.authenticate(presented, credentials, request.ip));
      if (!principal) {
        throw new AppError('UNAUTHENTICATED', 'Missing or invalid credentials', { headers: BASIC_CHALLENGE });
      }
      return withScope(principal, scope);
    }

    async function appPrincipal(
      request: FastifyRequest,
      auth: Extract<RouteAuth, { kind: 'app' }>,
    ): Promise<AppPrincipal> {
      const presented = parseAppAuthorization(request.headers.authorization);
      const principal =
        presented && auth.via.includes(presented.scheme)
          ? await opts.appAuth.authenticate(presented.scheme, presented.token, request)
          : undefined;
      if (!principal) {
        const challenge = auth.via.map((scheme) => APP_CHALLENGE[scheme]).join(', ');
        throw new AppError('UNAUTHENTICATED', 'Missing or invalid credentials', {
          headers: { 'WWW-Authenticate': challenge },
        });
      }
      if (!principal.scopes.has(auth.scope))
        throw new AppError('FORBIDDEN', `This app lacks the scope ${auth.scope}`);
      return principal;
    }

    // Declared on every request from its construction, as Fastify's decorator guide advises,
    // so that setting it (below, in PersonAuthenticator.guard, on the home page and in the
    // web stack) does not change the request object's shape.
    app.decorateRequest('principal', undefined);

    app.addHook('onRoute', function (route) {
      const declared = route.config?.auth;
      if (declared) {
        documentRoute(route, declared);
        if (isPersonAuth(declared)) opts.people.guard(this, route, declared);
        return;
      }
      // Routes of third-party plugins (the docs UI) cannot declare config; they are listed as public by prefix in app.ts.
      if (opts.publicPrefixes.some((prefix) => route.url.startsWith(prefix))) {
        route.config = { ...route.config, auth: { kind: 'public' } };
        return;
      }
      throw new Error(`Route ${route.method} ${route.url} declares no auth requirement (config.auth)`);
    });

    // Callback style, not async: the common case (a public route, an API client whose header
    // was checked a moment ago) is answered synchronously, without a promise per request.
    app.addHook('onRequest', (request: FastifyRequest, _reply, done) => {
      const auth: RouteAuth | undefined = request.routeOptions.config.auth;
      if (!auth) {
        // Only the not-found handler has no declaration, and it serves nothing. Anything else fails closed.
        if (request.is404) return done();
        return done(new AppError('FORBIDDEN', 'Route has no access rule'));
      }
      switch (auth.kind) {
        case 'public':
        case 'account':
        case 'operator':
          // People's routes are checked by the route's own hook (PersonAuthenticator.guard), after the web stack's hooks.
          return done();
        case 'api-client': {
          let remembered: ApiClientPrincipal | undefined;
          try {
            remembered = rememberedApiClient(request, auth.scope);
          } catch (error) {
            return done(error as Error);
          }
          if (remembered) {
            request.principal = remembered;
            return done();
          }
          apiClient(request, auth.scope).then((principal) => {
            request.principal = principal;
            done();
          }, done);
          return;
        }
        case 'app':
          appPrincipal(request, auth).then((principal) => {
            request.principal = principal;
            done();
          }, done);
          return;
      }
    });
  },
);
