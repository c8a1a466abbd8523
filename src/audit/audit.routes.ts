import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ADMIN_SCOPE } from '../auth/scopes.js';
import type { Database } from '../db/dialect.js';
import { errorResponses } from '../errors/error.schemas.js';
import { queryAuditLog } from './audit.query.js';
import {
  AuditCheckpoint,
  AuditPage,
  AuditQuery,
  CheckpointPage,
  CheckpointQuery,
  PublicKeys,
  Verification,
  VerifyBody,
} from './audit.schemas.js';
import { type AuditCheckpoints, checkpointView } from './checkpoint.service.js';

const auth = { kind: 'api-client', scope: ADMIN_SCOPE } as const;

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
        querystring: AuditQuery,
        response: { 200: AuditPage },
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
        response: { 201: AuditCheckpoint, ...errorResponses(409) },
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
        querystring: CheckpointQuery,
        response: { 200: CheckpointPage },
      },
    },
    async (request) => checkpoints.list(request.query),
  );

  app.post(
    '/admin/audit-events/verify',
    {
      config: { auth },
      schema: {
        tags: ['Admin'],
        summary: 'Verifies the hash chain from the first entry, and compares it with signed checkpoints',
        description:
          'Walks at most `limit` entries (bounded memory: batches of 1000), stopping at the first broken link or unmatched checkpoint; stops too if the caller goes away. The answer says what the latest stored checkpoint covers. Longer logs: `custos audit verify`. docs/audit-log.md.',
        body: VerifyBody,
        response: { 200: Verification },
      },
    },
    async (request, reply) => {
      const gone = new AbortController();
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) gone.abort();
      });
      const claims = await checkpoints.claimsOf(request.body.checkpoints ?? []);
      const report = await checkpoints.verify({
        checkpoints: claims,
        limit: request.body.limit,
        signal: gone.signal,
      });
      return {
        intact: !report.broken && !report.mismatch,
        complete: report.complete,
        checked: report.checked,
        lastId: report.lastId,
        lastHash: report.lastHash,
        checkpointsMatched: report.checkpointsMatched,
        broken: report.broken ?? null,
        mismatch: report.mismatch ?? null,
        latestCheckpoint: report.latestCheckpoint ? checkpointView(report.latestCheckpoint) : null,
      };
    },
  );

  app.get(
    '/admin/audit-checkpoints/public-key',
    {
      config: { auth },
      schema: {
        tags: ['Admin'],
        summary: 'The public key that verifies audit checkpoints (made with the signing key if needed)',
        response: { 200: PublicKeys },
      },
    },
    async () => {
      const key = await checkpoints.publicKey();
      return { keys: [key.jwk], pem: key.pem };
    },
  );
};
