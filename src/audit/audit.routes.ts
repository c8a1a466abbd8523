import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ADMIN_SCOPE } from '../auth/principal.js';
import type { Database } from '../db/dialect.js';
import { errorResponses } from '../errors/error.schemas.js';
import { queryAuditLog } from './audit.query.js';
import { AuditPage, AuditQuery } from './audit.schemas.js';

/** The audit log for the operator (and their auditors), read-only: the log is never edited. */
export const auditRoutes: FastifyPluginAsyncTypebox<{ database: Database }> = async (app, { database }) => {
  app.get(
    '/admin/audit-events',
    {
      config: { auth: { kind: 'api-client', scope: ADMIN_SCOPE } },
      schema: {
        tags: ['Admin'],
        summary: 'Pages through the audit log, oldest first, filtered by app, account, action and time',
        description:
          '`from` is inclusive, `to` exclusive. Pass `nextCursor` as `cursor` for the next page; null means the last page. Format and hash: docs/audit-log.md.',
        security: [{ basic: [] }],
        querystring: AuditQuery,
        response: { 200: AuditPage, ...errorResponses(400, 401, 403, 500, 503) },
      },
    },
    async (request) => queryAuditLog(database.db, request.query),
  );
};
