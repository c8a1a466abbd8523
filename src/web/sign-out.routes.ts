import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { personOf } from '../auth/principal.js';
import { errorResponses } from '../errors/error.schemas.js';
import type { SessionService } from '../sessions/session.service.js';
import { sessionCookie } from '../sessions/session-cookie.js';
import { LOGIN_PATH } from './navigation.js';
import type { SignOutFollower } from './sign-out.port.js';

const auth = { kind: 'account' } as const;
// Pages for people, not part of the JSON API: kept out of the OpenAPI document.
const schema = { hide: true, response: { 303: Type.Null(), ...errorResponses(400, 401, 403, 500) } };

/**
 * Sign-out ends the session on the server, not only in this browser (OWASP ASVS V3.3.1);
 * "sign out everywhere" ends every session of the person. Both also end what follows the
 * session (the authorization server's session with the browser, through `follower`). Both
 * are form posts, so they pass the web stack's origin and CSRF checks.
 */
export const signOutRoutes: FastifyPluginAsyncTypebox<{
  sessions: SessionService;
  follower: SignOutFollower;
  publicUrl: string | undefined;
}> = async (app, { sessions, follower, publicUrl }) => {
  const cookie = sessionCookie(publicUrl);

  const signedOut = async (request: FastifyRequest, reply: FastifyReply, everywhere: boolean) => {
    const dropped = await follower.signedOut(request.raw, personOf(request).accountId, everywhere);
    reply.clearCookie(cookie.name, cookie.options);
    for (const name of dropped) reply.clearCookie(name, cookie.options);
    return reply.redirect(LOGIN_PATH, 303);
  };

  app.post('/logout', { config: { auth }, schema }, async (request, reply) => {
    const person = personOf(request);
    await sessions.end(person.accountId, person.sessionId);
    return signedOut(request, reply, false);
  });

  app.post('/logout/all', { config: { auth }, schema }, async (request, reply) => {
    await sessions.endAll(personOf(request).accountId);
    return signedOut(request, reply, true);
  });
};
