import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from 'kysely';
import Type from 'typebox';
import type { Database } from '../db/dialect.js';
import { AppError } from '../errors/app-error.js';
import type { Metrics } from './metrics.js';

const Status = Type.Object({ status: Type.String() }, { additionalProperties: false });

/**
 * Liveness, readiness and metrics. Public, because orchestrators and scrapers call them
 * without credentials; they reveal no personal data. Bind Custos to a private interface
 * or filter /metrics at the proxy if its operational figures are sensitive to you.
 */
export const opsRoutes: FastifyPluginAsyncTypebox<{ database: Database; metrics: Metrics }> = async (
  app,
  { database, metrics },
) => {
  const publicRoute = { auth: { kind: 'public' } } as const;

  app.get(
    '/healthz',
    { config: publicRoute, schema: { tags: ['Operations'], summary: 'Liveness', response: { 200: Status } } },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      config: publicRoute,
      schema: {
        tags: ['Operations'],
        summary: 'Readiness: the database answers',
        response: { 200: Status },
      },
    },
    async () => {
      try {
        await sql`select 1`.execute(database.db);
      } catch {
        throw new AppError('UNAVAILABLE', 'Database unreachable');
      }
      return { status: 'ready' };
    },
  );

  app.get(
    '/metrics',
    {
      config: publicRoute,
      schema: {
        tags: ['Operations'],
        summary: 'Prometheus metrics',
        produces: ['text/plain'],
        response: { 200: Type.String() },
      },
    },
    async (_request, reply) => {
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    },
  );
};
