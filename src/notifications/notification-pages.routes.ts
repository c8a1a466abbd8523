import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { personOf } from '../auth/principal.js';
import { AppError } from '../errors/app-error.js';
import { errorResponses } from '../errors/error.schemas.js';
import { CATEGORY_PATTERN } from './notification.model.js';
import { UnsubscribeQuery } from './notification.schemas.js';
import { type NotificationRelay, SETTINGS_PATH, UNSUBSCRIBE_PATH } from './notification.service.js';

const Html = Type.String({ description: 'An HTML page.' });
// Pages for people, not part of the JSON API: kept out of the OpenAPI document.
const pageResponses = { 200: Html, ...errorResponses(404) };
const redirectResponses = { 303: Type.Null(), ...errorResponses(404) };

/** A form field that may come once (a string) or repeated (an array). */
const Repeated = (item: ReturnType<typeof Type.String>) =>
  Type.Optional(Type.Union([item, Type.Array(item, { maxItems: 200 })]));
const Category = Type.String({ pattern: CATEGORY_PATTERN, errorMessage: 'is not a notification category' });

const ChoicesForm = Type.Object(
  {
    appKey: Type.String({ minLength: 1, maxLength: 128 }),
    enabled: Type.Optional(Type.Literal('on')),
    shown: Repeated(Category),
    category: Repeated(Category),
  },
  { additionalProperties: false },
);

const list = (value: string | string[] | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/**
 * The relay's pages (docs/notifications.md): a person's choices in the privacy centre, the
 * confirm page behind a mail's unsubscribe link (no sign-in: the signed link is enough), and
 * the console's volume per app.
 */
export const notificationPageRoutes: FastifyPluginAsyncTypebox<{ relay: NotificationRelay }> = async (
  app,
  { relay },
) => {
  app.get(
    SETTINGS_PATH,
    {
      config: { auth: { kind: 'account' } },
      schema: {
        hide: true,
        querystring: Type.Object(
          { saved: Type.Optional(Type.String({ maxLength: 128 })) },
          { additionalProperties: false },
        ),
        response: pageResponses,
      },
    },
    async (request, reply) => {
      const apps = await relay.listChoices(personOf(request).accountId);
      const saved = apps.find((a) => a.appKey === request.query.saved)?.appName;
      return reply.page('privacy/notifications', { title: 'Notifications from apps', apps, saved });
    },
  );

  app.post(
    SETTINGS_PATH,
    {
      config: { auth: { kind: 'account' } },
      schema: { hide: true, body: ChoicesForm, response: redirectResponses },
    },
    async (request, reply) => {
      const form = request.body;
      await relay.setChoices(personOf(request).accountId, {
        appKey: form.appKey,
        enabled: form.enabled === 'on',
        shown: list(form.shown),
        enabledCategories: list(form.category),
      });
      return reply.redirect(`${SETTINGS_PATH}?saved=${encodeURIComponent(form.appKey)}`, 303);
    },
  );

  app.get(
    UNSUBSCRIBE_PATH,
    {
      config: { auth: { kind: 'public' } },
      schema: { hide: true, querystring: UnsubscribeQuery, response: pageResponses },
    },
    async (request, reply) => {
      const target = await relay.describeUnsubscribe(request.query.t);
      if (!target) throw new AppError('NOT_FOUND', 'This unsubscribe link is not valid', { field: 't' });
      return reply.page('notifications-unsubscribe', {
        title: `Notifications from ${target.appName}`,
        ...target,
        token: request.query.t,
      });
    },
  );

  app.post(
    `${UNSUBSCRIBE_PATH}/confirm`,
    {
      config: { auth: { kind: 'public' } },
      schema: { hide: true, body: UnsubscribeQuery, response: redirectResponses },
    },
    async (request, reply) => {
      await relay.unsubscribe(request.body.t, 'confirm-page');
      return reply.redirect(`${UNSUBSCRIBE_PATH}?t=${encodeURIComponent(request.body.t)}`, 303);
    },
  );

  app.get(
    '/console/notifications',
    {
      config: { auth: { kind: 'operator', permission: 'read' } },
      schema: {
        hide: true,
        querystring: Type.Object(
          { days: Type.Integer({ minimum: 1, maximum: 365, default: 30 }) },
          { additionalProperties: false },
        ),
        response: pageResponses,
      },
    },
    async (request, reply) => {
      const days = request.query.days;
      return reply.page('console/notifications', {
        title: 'Notifications sent for apps',
        days,
        apps: await relay.volume(days),
      });
    },
  );
};
