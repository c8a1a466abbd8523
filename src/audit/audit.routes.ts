import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ADMIN_SCOPE } from '../auth/principal.js';
import type { Database } from '../db/dialect.js';
import { errorResponses } from '../errors/error.schemas.js';
import { queryAuditEvents } from './audit.repository.js';
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
    async (request) => {
      const q = request.query;
      const rows = await queryAuditEvents(database.db, {
        appKey: q.app,
        accountId: q.account,
        action: q.action,
        from: q.from && new Date(q.from).toISOString(),
        to: q.to && new Date(q.to).toISOString(),
        afterId: q.cursor === undefined ? undefined : Number(q.cursor),
        limit: q.limit,
      });
      const last = rows.at(-1);
      return {
        values: rows.map((r) => ({
          id: Number(r.id),
          at: r.at,
          actorType: r.actor_type,
          actorId: r.actor_id,
          action: r.action,
          appKey: r.app_key,
          installationId: r.installation_id,
          accountId: r.account_id,
          details: r.details,
          prevHash: r.prev_hash,
          hash: r.hash,
        })),
        nextCursor: rows.length === q.limit && last ? String(last.id) : null,
      };
    },
  );
};
