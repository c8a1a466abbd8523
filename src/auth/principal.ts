/** Who is calling. Every route declares which kind of principal it accepts (see auth.plugin.ts). */
export interface ApiClientPrincipal {
  kind: 'api-client';
  clientId: string;
  tokenId: string;
  scopes: ReadonlySet<string>;
}

export type Principal = ApiClientPrincipal;

/** What a route requires; checked before its handler runs. */
export type RouteAuth = { kind: 'public' } | { kind: 'api-client'; scope: string };

export const CONSENT_HUB_SCOPE = 'manage:consent-hub-consent';

/** The caller of a route whose auth kind is 'api-client'; the auth hook has already checked it. */
export function apiClientOf(request: { principal?: Principal }): ApiClientPrincipal {
  if (request.principal?.kind !== 'api-client')
    throw new Error('route reached without an API client principal');
  return request.principal;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}
