import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { personOf } from '../auth/principal.js';
import { errorResponses } from '../errors/error.schemas.js';
import type { SessionService } from '../sessions/session.service.js';
import { sessionCookie } from '../sessions/session-cookie.js';
import { LOGIN_PATH } from './navigation.js';

const auth = { kind: 'account' } as const;
// Pages for people, not part of the JSON API: kept out of the OpenAPI document.
const schema = { hide: true, response: { 303: Type.Null(), ...errorResponses(400, 401, 403, 500) } };

/**
 * Sign-out ends the session on the server, not only in this browser (OWASP ASVS V3.3.1);
 * "sign out everywhere" ends every session of the person. Both are form posts, so they pass
 * the web stack's origin and CSRF checks.
 */
export const signOutRoutes: FastifyPluginAsyncTypebox<{
  sessions: SessionService;
  publicUrl: string | undefined;
}> = async (app, { sessions, publicUrl }) => {
  const cookie = sessionCookie(publicUrl);

  app.post('/logout', { config: { auth }, schema }, async (request, reply) => {
    const person = personOf(request);
    await sessions.end(person.accountId, person.sessionId);
    return reply.clearCookie(cookie.name, cookie.options).redirect(LOGIN_PATH, 303);
  });

  app.post('/logout/all', { config: { auth }, schema }, async (request, reply) => {
    await sessions.endAll(personOf(request).accountId);
    return reply.clearCookie(cookie.name, cookie.options).redirect(LOGIN_PATH, 303);
  });
};
