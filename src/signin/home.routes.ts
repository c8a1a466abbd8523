import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { OperatorRoleSource } from '../auth/operator-roles.port.js';
import type { PersonAuthenticator } from '../auth/person-auth.js';
import { LOGIN_PATH } from '../web/navigation.js';

/**
 * The front page for people: signed out, a short welcome and the way to sign in; signed in,
 * the way to their privacy centre and, for a console role, to the console, and both ways to
 * sign out.
 */
export const homeRoutes: FastifyPluginAsyncTypebox<{
  people: PersonAuthenticator;
  roles: OperatorRoleSource;
}> = async (app, { people, roles }) => {
  app.get('/', { config: { auth: { kind: 'public' } }, schema: { hide: true } }, async (request, reply) => {
    const person = await people.find(request);
    // The layout shows "Sign out" to a signed-in person.
    if (person) request.principal = person;
    const operator = person !== undefined && (await roles.rolesOf(person.accountId)).length > 0;
    return reply.page('home', {
      title: person ? 'Welcome' : 'Custos',
      person: person && { accountId: person.accountId, operator },
      signInPath: LOGIN_PATH,
    });
  });
};
