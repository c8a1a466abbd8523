import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { auditActorOf } from '../audit/audit.service.js';
import { ADMIN_SCOPE } from '../auth/scopes.js';
import { errorResponses } from '../errors/error.schemas.js';
import { Notice, NoticeBody, NoticeList } from './notice.schemas.js';
import type { NoticeRegistry } from './notice.service.js';

const auth = { kind: 'api-client', scope: ADMIN_SCOPE } as const;
const tags = ['Admin: consent notices'];

/** The consent notice registry for the operator: the twins of `custos notice …`. */
export const noticeRoutes: FastifyPluginAsyncTypebox<{ notices: NoticeRegistry }> = async (
  app,
  { notices },
) => {
  app.get(
    '/admin/consent-notices',
    {
      config: { auth },
      schema: {
        tags,
        summary: 'Lists every registered notice version, by key and effective time',
        response: { 200: NoticeList },
      },
    },
    async () => ({ values: await notices.list() }),
  );

  app.post(
    '/admin/consent-notices',
    {
      config: { auth },
      schema: {
        tags,
        summary: 'Registers a new version of a consent notice',
        description:
          'Notices are never edited or deleted: they are the proof of what people agreed to. 409 when the key already has this version or this exact text.',
        body: NoticeBody,
        response: { 201: Notice, ...errorResponses(409) },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await notices.add(request.body, auditActorOf(request.principal))),
  );
};
