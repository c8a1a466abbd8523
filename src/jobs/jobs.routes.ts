import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ADMIN_SCOPE } from '../auth/scopes.js';
import type { JobService } from './job.service.js';
import { JobList, JobsQuery } from './jobs.schemas.js';

/** The jobs table for operators, read-only (the same listing as `custos jobs list`). */
export const jobRoutes: FastifyPluginAsyncTypebox<{ jobs: JobService }> = async (app, { jobs }) => {
  app.get(
    '/admin/jobs',
    {
      config: { auth: { kind: 'api-client', scope: ADMIN_SCOPE } },
      schema: {
        tags: ['Admin'],
        summary: 'Lists background jobs, newest first, filtered by status and name',
        description:
          'Scheduled clean-ups and reminders, one row per due time, and enqueued jobs. A `failed` job ran out of attempts; `lastError` says why.',
        querystring: JobsQuery,
        response: { 200: JobList },
      },
    },
    async (request) => ({ values: await jobs.list(request.query) }),
  );
};
