// The session cookie is parsed by @fastify/cookie in the web stack; this brings its request typing.
import type {} from '@fastify/cookie';
import type { FastifyInstance, FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify';
import { AppError } from '../errors/app-error.js';
import type { OperatorRoleSource } from './operator-roles.port.js';
import { permissionsOf } from './permissions.js';
import type { PersonPrincipal, RouteAuth } from './principal.js';
import type { SessionSource } from './session-source.port.js';

export type PersonAuth = Extract<RouteAuth, { kind: 'account' | 'operator' }>;

export function isPersonAuth(auth: RouteAuth): auth is PersonAuth {
  return auth.kind === 'account' || auth.kind === 'operator';
}

/**
 * Signed-in people: the session cookie's token → a live session → the person, and for
 * console routes their roles → permissions, read on every request so that a revoked role
 * or session takes effect at once.
 */
export class PersonAuthenticator {
  constructor(
    private readonly sessions: SessionSource,
    private readonly roles: OperatorRoleSource,
    private readonly cookieName: string,
  ) {}

  async authenticate(request: FastifyRequest, auth: PersonAuth): Promise<PersonPrincipal> {
    const token = request.cookies?.[this.cookieName];
    const session = token ? await this.sessions.authenticate(token) : undefined;
    if (!session) throw new AppError('UNAUTHENTICATED', 'Sign in to continue');
    const person = { accountId: session.accountId, sessionId: session.id };
    if (auth.kind === 'account') return { kind: 'account', ...person };
    const roles = new Set(await this.roles.rolesOf(session.accountId));
    const permissions = permissionsOf(roles);
    if (roles.size === 0)
      throw new AppError(
        'FORBIDDEN',
        `You have no console role: the console is for the people who run Custos (this page needs the permission ${auth.permission}).`,
      );
    if (!permissions.has(auth.permission))
      throw new AppError('FORBIDDEN', `Your console roles do not give the permission ${auth.permission}`);
    return { kind: 'operator', ...person, roles, permissions };
  }

  /** The person signed in on this request, if any: for public pages that greet either way. */
  async find(request: FastifyRequest): Promise<PersonPrincipal | undefined> {
    const token = request.cookies?.[this.cookieName];
    const session = token ? await this.sessions.authenticate(token) : undefined;
    return session && { kind: 'account', accountId: session.accountId, sessionId: session.id };
  }

  /**
   * Puts the check first among the route's own onRequest hooks. Route hooks run after the
   * hooks of every enclosing context, so the web stack has parsed the cookies and set the
   * security headers by then, and a refusal is answered with them. A route for people
   * outside the web stack would have no CSRF check: it is refused when registered.
   */
  guard(instance: FastifyInstance, route: RouteOptions, auth: PersonAuth): void {
    if (!instance.hasDecorator('csrfProtection')) {
      throw new Error(
        `Route ${route.method} ${route.url} is for signed-in people but is not registered inside the web stack (src/web)`,
      );
    }
    const check: onRequestHookHandler = async (request) => {
      request.principal = await this.authenticate(request, auth);
    };
    const own = route.onRequest === undefined ? [] : [route.onRequest].flat();
    route.onRequest = [check, ...own];
  }
}
