import rateLimit from '@fastify/rate-limit';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import Type from 'typebox';
import { type AppAuthScheme, appOf, type RouteAuth } from '../auth/principal.js';
import { REPORT_PD_SCOPE } from '../auth/scopes.js';
import { AppError } from '../errors/app-error.js';
import { sharedMemoryStore } from './memory-rate-store.js';
import { parseReport } from './report-accounts.js';
import { ErasureBody, ReportAnswer, ReportBody, ReportError } from './reporting.schemas.js';
import type { ReportingService } from './reporting.service.js';

export interface ReportingRouteOptions {
  reporting: ReportingService;
  cycleDays: number;
  rateLimit: { max: number; windowMs: number; redis: Redis | undefined; prefix: string };
}

const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [s, ReportError]));
const appAuth = (via: AppAuthScheme): RouteAuth => ({
  kind: 'app',
  scope: REPORT_PD_SCOPE,
  via: [via],
});

/**
 * Personal data reporting (docs/wire-contracts.md#personal-data-reporting), both entry points, plus
 * erasure confirmation. Every answer carries `Cycle-Period`, errors included; errors are exactly
 * {errorType, errorMessage}; each app has its own request budget (429 + Retry-After).
 */
export const reportingRoutes: FastifyPluginAsyncTypebox<ReportingRouteOptions> = async (app, opts) => {
  const { reporting, cycleDays } = opts;
  await app.register(rateLimit, {
    global: false,
    ...(opts.rateLimit.redis ? { redis: opts.rateLimit.redis } : { store: sharedMemoryStore() }),
    nameSpace: `${opts.rateLimit.prefix}rate:`,
    // A Redis outage must not stop apps from learning about erasures: answer without counting.
    skipOnError: true,
  });
  // After the hook chain fails or succeeds alike: the contract puts the header on every response.
  // Callback form: the work is synchronous, so no promise per response.
  const cyclePeriod = String(cycleDays);
  app.addHook('onSend', (_request, reply, payload, done) => {
    reply.header('Cycle-Period', cyclePeriod);
    done(null, payload);
  });

  const limit = (group: string) => ({
    max: opts.rateLimit.max,
    timeWindow: opts.rateLimit.windowMs,
    // After authentication (onRequest), before the body is read: keyed by app, not by IP,
    // so all of an app's installations and processes share one budget.
    hook: 'preParsing' as const,
    groupId: group,
    keyGenerator: (request: FastifyRequest) => `${group}:${appOf(request).appKey}`,
    errorResponseBuilder: (_request: FastifyRequest, context: { ttl: number }) =>
      new AppError('RATE_LIMITED', 'Too many requests: retry after the Retry-After delay', {
        headers: { 'Retry-After': String(Math.max(1, Math.ceil(context.ttl / 1000))) },
      }),
  });

  const reportRoute = (url: string, via: AppAuthScheme, hide: boolean) =>
    app.post(
      url,
      {
        config: { auth: appAuth(via), bareErrorBody: true, rateLimit: limit('report-accounts') },
        // The schema documents the body; parseReport reads it, so that a bad body is answered
        // in the contract's words and the 90-account body is checked once, not twice.
        validatorCompiler: () => () => true,
        schema: {
          hide,
          tags: ['Personal data reporting'],
          summary: 'Reports the accounts whose PD the app stores; answers which need action',
          description:
            'At most 90 accounts. 200 lists only accounts needing action (closed: erase; updated: refresh or erase); 204 when none does. Accounts the app cannot see (not a member of a site it is installed on, or unknown) never get a status. Every response has a Cycle-Period header (days).',
          body: ReportBody,
          response: {
            200: ReportAnswer,
            204: Type.Null(),
            ...errors(400, 401, 403, 413, 415, 429, 500, 503),
          },
        },
      },
      async (request, reply) => {
        const answers = await reporting.report(appOf(request), parseReport(request.body));
        if (answers.length === 0) return reply.code(204).send(undefined as never);
        return { accounts: answers };
      },
    );
  // The official helper posts without the trailing slash; the documented path has one.
  reportRoute('/app/report-accounts/', 'oauth', false);
  reportRoute('/app/report-accounts', 'oauth', true);
  reportRoute('/rest/atlassian-connect/latest/report-accounts', 'jwt', false);
  reportRoute('/rest/atlassian-connect/latest/report-accounts/', 'jwt', true);

  const erasureRoute = (url: string, via: AppAuthScheme, hide: boolean) =>
    app.post(
      url,
      {
        config: { auth: appAuth(via), bareErrorBody: true, rateLimit: limit('erased-accounts') },
        schema: {
          hide,
          tags: ['Personal data reporting'],
          summary: "Confirms the app erased these accounts' data",
          description:
            'At most 90 accounts. The app stops holding them; the confirmation time is kept as GDPR art. 19 evidence. Accounts the app cannot see are ignored. 204.',
          body: ErasureBody,
          response: { 204: Type.Null(), ...errors(400, 401, 403, 413, 415, 429, 500, 503) },
        },
      },
      async (request, reply) => {
        const ids = [...new Set(request.body.accounts.map((a) => a.accountId))];
        await reporting.confirmErasure(appOf(request), ids);
        return reply.code(204).send(undefined as never);
      },
    );
  erasureRoute('/app/erased-accounts/', 'oauth', false);
  erasureRoute('/app/erased-accounts', 'oauth', true);
  erasureRoute('/rest/atlassian-connect/latest/erased-accounts', 'jwt', false);
};
