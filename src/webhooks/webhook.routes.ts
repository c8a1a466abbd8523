import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { auditActorOf } from '../audit/audit.service.js';
import { ADMIN_SCOPE } from '../auth/scopes.js';
import { errorResponses } from '../errors/error.schemas.js';
import {
  MessageIdParams,
  MessagePage,
  MessagesQuery,
  RedeliverAppBody,
  Requeued,
} from './webhook.schemas.js';
import type { WebhookOutbox } from './webhook-outbox.service.js';

const auth = { kind: 'api-client', scope: ADMIN_SCOPE } as const;
const tags = ['Admin: webhooks'];

/** The webhook outbox for the operator: the twins of `custos webhook list|redeliver`. */
export const webhookRoutes: FastifyPluginAsyncTypebox<{ outbox: WebhookOutbox }> = async (
  app,
  { outbox },
) => {
  app.get(
    '/admin/webhook-messages',
    {
      config: { auth },
      schema: {
        tags,
        summary: 'Lists webhook messages, newest first, by app and delivery state (no payloads)',
        description: 'Pass `nextCursor` as `cursor` for the next page; null means the last page.',
        querystring: MessagesQuery,
        response: { 200: MessagePage },
      },
    },
    async ({ query }) =>
      outbox.list({ appKey: query.app, status: query.status, limit: query.limit, cursor: query.cursor }),
  );

  app.post(
    '/admin/webhook-messages/:id/redeliver',
    {
      config: { auth },
      schema: {
        tags,
        summary: 'Puts a dead message back in the queue, due now',
        description: '404: no such message. 409: the message is not dead (pending or delivered).',
        params: MessageIdParams,
        response: { 200: Requeued, ...errorResponses(404, 409) },
      },
    },
    async (request) => outbox.redeliverMessage(request.params.id, auditActorOf(request.principal)),
  );

  app.post(
    '/admin/webhook-messages/redeliver',
    {
      config: { auth },
      schema: {
        tags,
        summary: 'Puts every dead message of an app back in the queue, oldest first',
        description:
          'Requeued in transactions of 500 messages, each with its audit entry. An endpoint disabled after a 410 must be enabled first (`POST /admin/apps/{key}/webhook/enable`), or the messages die again.',
        body: RedeliverAppBody,
        response: { 200: Requeued },
      },
    },
    async (request) => outbox.redeliverApp(request.body.appKey, auditActorOf(request.principal)),
  );
};
