import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { appOf } from '../auth/principal.js';
import { SEND_NOTIFICATION_SCOPE } from '../auth/scopes.js';
import { errorResponses } from '../errors/error.schemas.js';
import {
  NotificationAccepted,
  NotificationParams,
  NotificationRequest,
  NotificationStatus,
  OneClickBody,
  Unsubscribed,
  UnsubscribeQuery,
} from './notification.schemas.js';
import { type NotificationRelay, UNSUBSCRIBE_PATH } from './notification.service.js';

const auth = { kind: 'app', scope: SEND_NOTIFICATION_SCOPE, via: ['jwt', 'oauth'] } as const;

/** The relay's API for apps (docs/notifications.md). */
export const notificationRoutes: FastifyPluginAsyncTypebox<{ relay: NotificationRelay }> = async (
  app,
  { relay },
) => {
  app.post(
    '/app/notifications',
    {
      config: { auth },
      schema: {
        tags: ['Notifications'],
        summary: 'Asks Custos to mail people a notification, by account id',
        description:
          'Custos mails each account that is a member of a site the app is installed on and has not turned the app or the category off, from a template naming the app, with one-click unsubscribe. The app never sees an address. 429 with Retry-After past the per-app request rate or the daily recipient quota; 503 when the operator has not configured mail.',
        body: NotificationRequest,
        response: { 202: NotificationAccepted, ...errorResponses(409) },
      },
    },
    async (request, reply) => reply.status(202).send(await relay.request(appOf(request), request.body)),
  );

  app.get(
    '/app/notifications/:id',
    {
      config: { auth },
      schema: {
        tags: ['Notifications'],
        summary: 'Returns what became of each recipient of a notification',
        description:
          'Never an address. An account the app may not reach is answered as suppressed, exactly like one whose owner turned the app off.',
        params: NotificationParams,
        response: { 200: NotificationStatus, ...errorResponses(404) },
      },
    },
    async (request) => relay.status(appOf(request), request.params.id),
  );

  // RFC 8058 one-click unsubscribe: mail clients post `List-Unsubscribe=One-Click` to the URL in
  // the List-Unsubscribe header, form-encoded, with no cookie, origin or CSRF token. The signed
  // token in the URL is the authority, and it only ever turns mail off. In its own context, so
  // that form bodies are read here and nowhere else outside the pages.
  await app.register(async (oneClick) => {
    oneClick.addContentTypeParser(
      ['application/x-www-form-urlencoded', 'multipart/form-data'],
      { parseAs: 'string', bodyLimit: 4096 },
      (_request, body, done) => done(null, parseOneClickBody(String(body))),
    );
    oneClick.post(
      UNSUBSCRIBE_PATH,
      {
        config: { auth: { kind: 'public' } },
        schema: {
          tags: ['Notifications'],
          summary: 'One-click unsubscribe from an app’s notifications (RFC 8058)',
          description:
            'The URL of a mail’s List-Unsubscribe header. Works without signing in: the token in the URL names the person and the app.',
          querystring: UnsubscribeQuery,
          body: OneClickBody,
          response: { 200: Unsubscribed, ...errorResponses(404) },
        },
      },
      async (request) => {
        await relay.unsubscribe((request.query as { t: string }).t, 'one-click');
        return { unsubscribed: true };
      },
    );
  });
};

/**
 * `List-Unsubscribe=One-Click` from either encoding RFC 8058 allows: a urlencoded body, or a
 * multipart one whose part is named List-Unsubscribe.
 */
export function parseOneClickBody(body: string): Record<string, string> {
  const multipart = /name="List-Unsubscribe"\r?\n(?:[^\r\n]+\r?\n)*\r?\n([^\r\n]*)/i.exec(body);
  if (multipart?.[1] !== undefined) return { 'List-Unsubscribe': multipart[1] };
  return Object.fromEntries(new URLSearchParams(body));
}
