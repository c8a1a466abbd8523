import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { PersonAuthenticator } from '../auth/person-auth.js';
import { errorResponses } from '../errors/error.schemas.js';
import type { SessionService } from '../sessions/session.service.js';
import { sessionCookie } from '../sessions/session-cookie.js';
import { LOGIN_PATH } from './navigation.js';
import type { SignOutFollower } from './sign-out.port.js';

// Public, so that a browser whose session has already ended (timed out, ended on another
// device, its account closed) still gets its cookies cleared rather than a sign-in page that
// leaves them. The posts still pass the web stack's origin and CSRF checks; only a live
// session of the browser's own is ended.
const auth = { kind: 'public' } as const;
// Pages for people, not part of the JSON API: kept out of the OpenAPI document.
const schema = { hide: true, response: { 303: Type.Null(), ...errorResponses(400, 403, 500) } };

/**
 * Sign-out ends the session on the server, not only in this browser (OWASP ASVS V3.3.1);
 * "sign out everywhere" ends every session of the person. Both also end what follows the
 * session (the authorization server's session with the browser, through `follower`), clear
 * the browser's cookies and send it to the sign-in page, whether or not its session still
 * worked. Both are form posts, so they pass the web stack's origin and CSRF checks.
 */
export const signOutRoutes: FastifyPluginAsyncTypebox<{
  sessions: SessionService;
  people: PersonAuthenticator;
  follower: SignOutFollower;
  publicUrl: string | undefined;
}> = async (app, { sessions, people, follower, publicUrl }) => {
  const cookie = sessionCookie(publicUrl);

  const signOut = async (request: FastifyRequest, reply: FastifyReply, everywhere: boolean) => {
    const person = await people.find(request);
    if (person && everywhere) await sessions.endAll(person.accountId);
    else if (person) await sessions.end(person.accountId, person.sessionId);
    const dropped = await follower.signedOut(request.raw, person?.accountId, everywhere);
    reply.clearCookie(cookie.name, cookie.options);
    for (const name of dropped) reply.clearCookie(name, cookie.options);
    return reply.redirect(LOGIN_PATH, 303);
  };

  app.post('/logout', { config: { auth }, schema }, (request, reply) => signOut(request, reply, false));
  app.post('/logout/all', { config: { auth }, schema }, (request, reply) => signOut(request, reply, true));
};
