import type { OperatorRole, Permission } from './permissions.js';
import type { ApiClientScope, AppScope, UserGrantScope } from './scopes.js';

/** Who is calling. Every route declares which kind of principal it accepts (see auth.plugin.ts). */
export interface ApiClientPrincipal {
  kind: 'api-client';
  clientId: string;
  tokenId: string;
  scopes: ReadonlySet<string>;
}

/** The two ways an app authenticates (docs/wire-contracts.md#app-authentication). */
export type AppAuthScheme = 'jwt' | 'oauth';

/**
 * A third-party app. `siteIds` are the sites it may read, fixed at authentication: a
 * Connect JWT speaks for one installation (one site); an OAuth token for every site the
 * app is installed on now. `actingAccountId` is a JWT's `sub`, recorded but granting
 * nothing: impersonation does not widen what an app sees (docs/wire-contracts.md#profile-visibility).
 */
export interface AppPrincipal {
  kind: 'app';
  appKey: string;
  via: AppAuthScheme;
  installationId?: string;
  clientKey?: string;
  oauthClientId?: string;
  siteIds: readonly string[];
  scopes: ReadonlySet<string>;
  actingAccountId?: string;
  /**
   * Set for a token a person granted the app (OAuth 2.0 authorization code): the granting
   * account and the grant. `scopes` are then what that person granted.
   */
  grant?: { accountId: string; grantId: string };
}

/** A signed-in person, identified by a session cookie (src/sessions). */
export interface AccountPrincipal {
  kind: 'account';
  accountId: string;
  sessionId: string;
}

/** A signed-in person whose console roles give the permission the route declares. */
export interface OperatorPrincipal {
  kind: 'operator';
  accountId: string;
  sessionId: string;
  roles: ReadonlySet<OperatorRole>;
  permissions: ReadonlySet<Permission>;
}

export type PersonPrincipal = AccountPrincipal | OperatorPrincipal;

export type Principal = ApiClientPrincipal | AppPrincipal | PersonPrincipal;

/** What a route requires; checked before its handler runs. */
export type RouteAuth =
  | { kind: 'public' }
  | { kind: 'api-client'; scope: ApiClientScope }
  /** An app authenticated by any scheme listed in `via`, holding `scope`. */
  | { kind: 'app'; scope: AppScope | UserGrantScope; via: readonly AppAuthScheme[] }
  /** Any signed-in person (the privacy centre). Only inside the web stack (src/web), which brings CSRF and the CSP. */
  | { kind: 'account' }
  /** A signed-in person whose console roles give `permission` (the console); 403 otherwise. */
  | { kind: 'operator'; permission: Permission };

/** An app calling with an OAuth access token: for every site it is installed on, with the token's scopes. */
export function oauthAppPrincipal(
  client: { appKey: string; clientId: string },
  siteIds: readonly string[],
  scopes: Iterable<string>,
  grant?: AppPrincipal['grant'],
): AppPrincipal {
  return {
    kind: 'app',
    appKey: client.appKey,
    via: 'oauth',
    oauthClientId: client.clientId,
    siteIds,
    scopes: new Set(scopes),
    ...(grant ? { grant } : {}),
  };
}

/** The caller of a route whose auth kind is 'api-client'; the auth hook has already checked it. */
export function apiClientOf(request: { principal?: Principal }): ApiClientPrincipal {
  if (request.principal?.kind !== 'api-client')
    throw new Error('route reached without an API client principal');
  return request.principal;
}

/** The caller of a route whose auth kind is 'app'; the auth hook has already checked it. */
export function appOf(request: { principal?: Principal }): AppPrincipal {
  if (request.principal?.kind !== 'app') throw new Error('route reached without an app principal');
  return request.principal;
}

/** The signed-in person of a route whose auth kind is 'account' or 'operator'; the auth hook has already checked it. */
export function personOf(request: { principal?: Principal }): PersonPrincipal {
  const principal = request.principal;
  if (principal?.kind !== 'account' && principal?.kind !== 'operator')
    throw new Error('route reached without a signed-in person');
  return principal;
}

/** The caller of a route whose auth kind is 'operator'; the auth hook has already checked it. */
export function operatorOf(request: { principal?: Principal }): OperatorPrincipal {
  if (request.principal?.kind !== 'operator') throw new Error('route reached without an operator principal');
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
