import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { personOf } from '../auth/principal.js';
import type { VisibilitySettings } from '../directory/account.model.js';
import { errorResponses } from '../errors/error.schemas.js';
import { channelLabel, consentLabel, FIELD_LABELS, formatWhen, VISIBILITY_LABELS } from './privacy.model.js';
import { ConsentForm, DoneQuery, SessionParams, VisibilityForm } from './privacy.schemas.js';
import type { PrivacyCentre } from './privacy.service.js';

const auth = { kind: 'account' } as const;
// Pages for people, not part of the JSON API: kept out of the OpenAPI document.
const page = { hide: true, querystring: DoneQuery, response: errorResponses(400, 401, 403, 404, 500) };
const form = { hide: true, response: { 303: Type.Null(), ...errorResponses(400, 401, 403, 404, 409, 500) } };

/** What the page says after a change (post/redirect/get keeps the reload harmless). */
const DONE: Record<string, string> = {
  saved: 'Saved. Apps see your choices the next time they ask for your details.',
  unchanged: 'Nothing to save: your choices were already like this.',
  given: 'Thank you. We have recorded that you agree.',
  withdrawn: 'Done. We have recorded that you said no.',
  'session-ended': 'That device is signed out.',
  'others-ended': 'Every other device is signed out.',
};

/** The helpers and words every privacy centre template uses. */
const words = { formatWhen, FIELD_LABELS, VISIBILITY_LABELS, consentLabel, channelLabel };

/**
 * The privacy centre at /privacy: the signed-in person's own profile visibility, marketing
 * consent, the apps that hold their data, and their sessions. Plain form posts, each answered
 * by a redirect to the page with a line saying what happened.
 */
export const privacyRoutes: FastifyPluginAsyncTypebox<{
  privacy: PrivacyCentre;
  publicUrl: string | undefined;
}> = async (app, { privacy, publicUrl }) => {
  const consentFormUrl = publicUrl === undefined ? null : new URL('/privacy/consent', publicUrl).href;
  const done = (query: { done?: string }) => (query.done === undefined ? undefined : DONE[query.done]);

  app.get('/privacy', { config: { auth }, schema: page }, async (request, reply) => {
    const profile = await privacy.profile(personOf(request));
    return reply.page('privacy/profile', {
      title: 'Your profile and who can see it',
      section: 'profile',
      done: done(request.query),
      ...words,
      ...profile,
    });
  });

  app.post(
    '/privacy/profile',
    { config: { auth }, schema: { ...form, body: VisibilityForm } },
    async (request, reply) => {
      const changed = await privacy.saveVisibility(
        personOf(request),
        request.body as Partial<VisibilitySettings>,
      );
      return reply.redirect(`/privacy?done=${changed.length > 0 ? 'saved' : 'unchanged'}`, 303);
    },
  );

  app.get('/privacy/consent', { config: { auth }, schema: page }, async (request, reply) => {
    const view = await privacy.consents(personOf(request));
    return reply.page('privacy/consent', {
      title: 'Marketing emails',
      section: 'consent',
      done: done(request.query),
      ...words,
      ...view,
    });
  });

  app.post(
    '/privacy/consent',
    { config: { auth }, schema: { ...form, body: ConsentForm } },
    async (request, reply) => {
      const { key, choice, version } = request.body;
      const granted = choice === 'give';
      await privacy.recordConsent(personOf(request), { key, granted, version }, consentFormUrl);
      return reply.redirect(`/privacy/consent?done=${granted ? 'given' : 'withdrawn'}`, 303);
    },
  );

  app.get('/privacy/apps', { config: { auth }, schema: page }, async (request, reply) => {
    const view = await privacy.apps(personOf(request));
    return reply.page('privacy/apps', {
      title: 'Apps that have your data',
      section: 'apps',
      done: done(request.query),
      ...words,
      ...view,
    });
  });

  app.get('/privacy/sessions', { config: { auth }, schema: page }, async (request, reply) => {
    const sessions = await privacy.sessions(personOf(request));
    return reply.page('privacy/sessions', {
      title: 'Where you are signed in',
      section: 'sessions',
      done: done(request.query),
      ...words,
      sessions,
    });
  });

  app.post(
    '/privacy/sessions/:sessionId/end',
    { config: { auth }, schema: { ...form, params: SessionParams } },
    async (request, reply) => {
      await privacy.endSession(personOf(request), request.params.sessionId);
      return reply.redirect('/privacy/sessions?done=session-ended', 303);
    },
  );

  app.post('/privacy/sessions/end-others', { config: { auth }, schema: form }, async (request, reply) => {
    await privacy.endOtherSessions(personOf(request));
    return reply.redirect('/privacy/sessions?done=others-ended', 303);
  });
};
