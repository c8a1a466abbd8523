import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Static } from 'typebox';
import { auditActorOf } from '../audit/audit.service.js';
import { appOf } from '../auth/principal.js';
import { ADMIN_SCOPE, REPORT_PD_SCOPE } from '../auth/scopes.js';
import { errorResponses } from '../errors/error.schemas.js';
import {
  CompleteBody,
  ConfirmAnswer,
  DsrIdParams,
  DsrRequest,
  DsrRequestDetail,
  DsrRequestList,
  ExtendBody,
  FileBody,
  ListQuery,
  PartAnswer,
  PartBody,
  ReasonBody,
} from './dsr.schemas.js';
import type { DsrService, DsrView } from './dsr.service.js';

const adminAuth = { kind: 'api-client', scope: ADMIN_SCOPE } as const;
const appAuth = { kind: 'app', scope: REPORT_PD_SCOPE, via: ['oauth', 'jwt'] } as const;
const tags = ['Data-subject requests'];

/**
 * Data-subject requests over the admin API (the twins of `custos dsr …`) and apps' answers
 * (docs/reporting-and-webhooks.md#data-subject-requests).
 */
export const dsrRoutes: FastifyPluginAsyncTypebox<{ dsr: DsrService; partMaxBytes: number }> = async (
  app,
  { dsr, partMaxBytes },
) => {
  app.post(
    '/admin/dsr/requests',
    {
      config: { auth: adminAuth },
      schema: {
        tags,
        summary: 'Files a data-subject request on a person’s behalf',
        description:
          'Filed by an operator or a system for the person: the identity waits for verification, and a GDPR deadline starts only once it is verified. 404: no such account; 409: a request of this type is already open, or the account is closed.',
        body: FileBody,
        response: { 201: DsrRequest, ...errorResponses(404, 409) },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          await dsr.file(
            { ...request.body, via: 'admin-api', signedIn: false },
            auditActorOf(request.principal),
          ),
        ),
  );

  app.get(
    '/admin/dsr/requests',
    {
      config: { auth: adminAuth },
      schema: {
        tags,
        summary: 'Lists data-subject requests, newest first',
        querystring: ListQuery,
        response: { 200: DsrRequestList },
      },
    },
    async (request) => {
      const q = request.query;
      return {
        values: await dsr.list({
          type: q.type,
          state: q.state,
          regime: q.regime,
          accountId: q.account,
          open: q.open,
        }),
      };
    },
  );

  app.get(
    '/admin/dsr/attention',
    {
      config: { auth: adminAuth },
      schema: {
        tags,
        summary:
          'Requests that need attention: overdue, stalled past their state’s time limit, or a failed step',
        response: { 200: DsrRequestList },
      },
    },
    async () => ({ values: await dsr.listNeedingAttention() }),
  );

  app.get(
    '/admin/dsr/requests/:id',
    {
      config: { auth: adminAuth },
      schema: {
        tags,
        summary: 'A request with its timeline and each app’s part',
        params: DsrIdParams,
        response: { 200: DsrRequestDetail, ...errorResponses(404) },
      },
    },
    async (request) => dsr.show(request.params.id),
  );

  const action = (
    path: string,
    summary: string,
    body: typeof ReasonBody | typeof ExtendBody | typeof CompleteBody | undefined,
    run: (id: string, body: never, actor: ReturnType<typeof auditActorOf>) => Promise<DsrView>,
  ) =>
    app.post(
      `/admin/dsr/requests/:id/${path}`,
      {
        config: { auth: adminAuth },
        schema: {
          tags,
          summary,
          params: DsrIdParams,
          ...(body ? { body } : {}),
          response: { 200: DsrRequest, ...errorResponses(404, 409) },
        },
      },
      async (request) => run(request.params.id, request.body as never, auditActorOf(request.principal)),
    );

  action(
    'verify',
    'Records that the requester’s identity is verified; the GDPR clock starts',
    undefined,
    (id, _b, actor) => dsr.verify(id, actor),
  );
  action(
    'extend',
    'Extends the deadline with a reason (GDPR: up to two months, within the first; CCPA: 45 days once)',
    ExtendBody,
    (id, b: { amount?: number; reason: string }, actor) => dsr.extend(id, b.amount, b.reason, actor),
  );
  action(
    'complete',
    'Completes a rectification, with the corrections made',
    CompleteBody,
    (id, b: Static<typeof CompleteBody>, actor) => dsr.complete(id, b, actor),
  );
  action('deny', 'Refuses a request with the reason', ReasonBody, (id, b: { reason: string }, actor) =>
    dsr.deny(id, b.reason, actor),
  );
  action(
    'expedite',
    'Runs the waiting step now: ends an erasure’s grace period, stops waiting for apps, retries a failed step',
    ReasonBody,
    (id, b: { reason: string }, actor) => dsr.expedite(id, b.reason, actor),
  );

  app.post(
    '/app/dsr/requests/:id/part',
    {
      config: { auth: appAuth },
      bodyLimit: partMaxBytes,
      schema: {
        tags,
        summary: 'Uploads the app’s part of an access export',
        description:
          'For an app told of the request by a `dsr.access-requested` webhook, before the deadline it names. Uploading again replaces the part. 404: a request the app was not told of; 409: the deadline passed; 413: larger than CUSTOS_DSR_PART_MAX_BYTES.',
        params: DsrIdParams,
        body: PartBody,
        response: { 200: PartAnswer, ...errorResponses(404, 409) },
      },
    },
    async (request) => dsr.uploadPart(appOf(request).appKey, request.params.id, request.body.data),
  );

  app.post(
    '/app/dsr/requests/:id/confirm',
    {
      config: { auth: appAuth },
      schema: {
        tags,
        summary: 'Confirms the app acted on a request it was told of (a restriction applied, nothing held)',
        params: DsrIdParams,
        response: { 200: ConfirmAnswer, ...errorResponses(404) },
      },
    },
    async (request) => dsr.confirmByApp(appOf(request).appKey, request.params.id),
  );
};
