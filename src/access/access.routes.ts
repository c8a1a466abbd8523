import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { AuditActor } from '../audit/audit.service.js';
import { ADMIN_SCOPE, apiClientOf, appOf } from '../auth/principal.js';
import { errorResponses } from '../errors/error.schemas.js';
import { AppKeyParams } from '../shared/common.schemas.js';
import {
  AccessListQuery,
  AccessRequest,
  AccessRequestBody,
  AccessRequestPage,
  ReasonBody,
  RequestIdParams,
  SubmittedRequest,
  UseCase,
} from './access.schemas.js';
import type { AccessProgramme } from './access.service.js';

const appAuth = { kind: 'app', scope: 'read:user', via: ['oauth', 'jwt'] } as const;
const adminAuth = { kind: 'api-client', scope: ADMIN_SCOPE } as const;
const appSecurity: { [scheme: string]: string[] }[] = [{ connectJwt: [] }, { oauth2: ['read:user'] }];
const adminSecurity = [{ basic: [] }];
const tags = ['Email API access programme'];

const adminActor = (request: Parameters<typeof apiClientOf>[0]): AuditActor => ({
  type: 'api-client',
  id: apiClientOf(request).clientId,
});

/**
 * The Email API access programme (docs/wire-contracts.md#email-api-access-programme): apps file
 * requests; the operator reviews, approves, rejects, revokes.
 */
export const accessRoutes: FastifyPluginAsyncTypebox<{ access: AccessProgramme }> = async (
  app,
  { access },
) => {
  app.post(
    '/app/email-access-requests',
    {
      config: { auth: appAuth },
      schema: {
        tags,
        summary: 'Requests access to the Email API for the calling app',
        description:
          'Every field the programme asks for (docs/email-access-programme.md). Decided at once when possible: auto-approved, auto-rejected (a never-approved use case), or in-review. The decision also arrives as a signed webhook. One request per app may be in review at a time (409 naming it), and an app files at most CUSTOS_ACCESS_REQUESTS_PER_DAY requests in any 24 hours (429 with Retry-After).',
        security: appSecurity,
        body: AccessRequestBody,
        response: {
          201: SubmittedRequest,
          ...errorResponses(400, 401, 403, 404, 409, 415, 429, 500, 503),
        },
      },
    },
    async (request, reply) => {
      const caller = appOf(request);
      const created = await access.submit(request.body, { type: 'app', id: caller.appKey }, caller.appKey);
      return reply.code(201).send(created);
    },
  );

  app.get(
    '/admin/email-access/requests',
    {
      config: { auth: adminAuth },
      schema: {
        tags,
        summary: 'Lists access requests, oldest first; `status=in-review` is the review queue',
        security: adminSecurity,
        querystring: AccessListQuery,
        response: { 200: AccessRequestPage, ...errorResponses(400, 401, 403, 500, 503) },
      },
    },
    async (request) => access.list(request.query),
  );

  app.get(
    '/admin/email-access/requests/:id',
    {
      config: { auth: adminAuth },
      schema: {
        tags,
        summary: 'Returns one access request',
        security: adminSecurity,
        params: RequestIdParams,
        response: { 200: AccessRequest, ...errorResponses(400, 401, 403, 404, 500, 503) },
      },
    },
    async (request) => access.get(request.params.id),
  );

  for (const decision of ['approve', 'reject'] as const) {
    app.post(
      `/admin/email-access/requests/:id/${decision}`,
      {
        config: { auth: adminAuth },
        schema: {
          tags,
          summary: `A reviewer ${decision}s a request in review, with a reason`,
          description: 'Only a request in review can be decided; anything else answers 409.',
          security: adminSecurity,
          params: RequestIdParams,
          body: ReasonBody,
          response: { 200: AccessRequest, ...errorResponses(400, 401, 403, 404, 409, 415, 500, 503) },
        },
      },
      async (request) =>
        access.decide(
          request.params.id,
          decision === 'approve' ? 'approved' : 'rejected',
          request.body.reason,
          adminActor(request),
        ),
    );
  }

  app.post(
    '/admin/email-access/apps/:key/revoke',
    {
      config: { auth: adminAuth },
      schema: {
        tags,
        summary: "Revokes an app's Email API access; its next Email API call is refused",
        description: 'Revokes every approved request of the app. 409 if it has none.',
        security: adminSecurity,
        params: AppKeyParams,
        body: ReasonBody,
        response: {
          200: Type.Array(AccessRequest),
          ...errorResponses(400, 401, 403, 404, 409, 415, 500, 503),
        },
      },
    },
    async (request) => access.revoke(request.params.key, request.body.reason, adminActor(request)),
  );

  app.get(
    '/admin/email-access/use-cases',
    {
      config: { auth: adminAuth },
      schema: {
        tags,
        summary: 'The use-case catalogue and how each is decided (auto, review, never)',
        security: adminSecurity,
        response: { 200: Type.Array(UseCase), ...errorResponses(401, 403, 500, 503) },
      },
    },
    async () => access.useCases(),
  );
};
