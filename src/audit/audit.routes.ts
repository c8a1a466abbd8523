import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ADMIN_SCOPE } from '../auth/principal.js';
import type { Database } from '../db/dialect.js';
import { errorResponses } from '../errors/error.schemas.js';
import { queryAuditLog } from './audit.query.js';
import { AuditCheckpoint, AuditPage, AuditQuery, CheckpointPage, CheckpointQuery } from './audit.schemas.js';
import { type AuditCheckpoints, checkpointView } from './checkpoint.service.js';

const auth = { kind: 'api-client', scope: ADMIN_SCOPE } as const;
const security = [{ basic: [] }];

/** The audit log for the operator (and their auditors), read-only: the log is never edited. */
export const auditRoutes: FastifyPluginAsyncTypebox<{
  database: Database;
  checkpoints: AuditCheckpoints;
}> = async (app, { database, checkpoints }) => {
  app.get(
    '/admin/audit-events',
    {
      config: { auth },
      schema: {
        tags: ['Admin'],
        summary: 'Pages through the audit log, oldest first, filtered by app, account, action and time',
        description:
          '`from` is inclusive, `to` exclusive. Pass `nextCursor` as `cursor` for the next page; null means the last page. Format and hash: docs/audit-log.md.',
        security,
        querystring: AuditQuery,
        response: { 200: AuditPage, ...errorResponses(400, 401, 403, 500, 503) },
      },
    },
    async (request) => queryAuditLog(database.db, request.query),
  );

  app.post(
    '/admin/audit-checkpoints',
    {
      config: { auth },
      schema: {
        tags: ['Admin'],
        summary: 'Signs a checkpoint of the audit log as it ends now and sends it to the witnesses',
        description:
          'The answer carries the checkpoint and whether each configured witness got it; a witness that failed is retried at the next run. 409: the log no longer extends the previous checkpoint (nothing is signed). docs/audit-log.md.',
        security,
        response: { 201: AuditCheckpoint, ...errorResponses(401, 403, 409, 500, 503) },
      },
    },
    async (_request, reply) => reply.code(201).send(checkpointView(await checkpoints.checkpoint())),
  );

  app.get(
    '/admin/audit-checkpoints',
    {
      config: { auth },
      schema: {
        tags: ['Admin'],
        summary: 'Pages through the audit checkpoints, newest first, with their witness state',
        description: 'Pass `nextCursor` as `cursor` for the next page; null means the last page.',
        security,
        querystring: CheckpointQuery,
        response: { 200: CheckpointPage, ...errorResponses(400, 401, 403, 500, 503) },
      },
    },
    async (request) => checkpoints.list(request.query),
  );
};
