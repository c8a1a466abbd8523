import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { auditActorOf } from '../audit/audit.service.js';
import { appOf } from '../auth/principal.js';
import { ADMIN_SCOPE, READ_USER_SCOPE } from '../auth/scopes.js';
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
  UseCaseBody,
} from './access.schemas.js';
import type { AccessProgramme } from './access.service.js';

const appAuth = { kind: 'app', scope: READ_USER_SCOPE, via: ['oauth', 'jwt'] } as const;
const adminAuth = { kind: 'api-client', scope: ADMIN_SCOPE } as const;
const tags = ['Email API access programme'];

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
        body: AccessRequestBody,
        response: {
          201: SubmittedRequest,
          ...errorResponses(404, 409, 429),
        },
      },
    },
    async (request, reply) => {
      const caller = appOf(request);
      const created = await access.submit(request.body, { type: 'app', id: caller.appKey }, caller.appKey);
      return reply.code(201).send(created);
    },
  );

  app.post(
    '/admin/email-access/requests',
    {
      config: { auth: adminAuth },
      schema: {
        tags,
        summary: "Files an access request on an app's behalf (an operator)",
        description:
          'The body of POST /app/email-access-requests, decided the same way; the operator is on record as the submitter. 404: no such app; 409: the app has a request in review; 429: the app filed CUSTOS_ACCESS_REQUESTS_PER_DAY requests in the last 24 hours.',
        body: AccessRequestBody,
        response: { 201: SubmittedRequest, ...errorResponses(404, 409, 429) },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await access.submit(request.body, auditActorOf(request.principal))),
  );

  app.get(
    '/admin/email-access/requests',
    {
      config: { auth: adminAuth },
      schema: {
        tags,
        summary: 'Lists access requests, oldest first; `status=in-review` is the review queue',
        querystring: AccessListQuery,
        response: { 200: AccessRequestPage },
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
        params: RequestIdParams,
        response: { 200: AccessRequest, ...errorResponses(404) },
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
          params: RequestIdParams,
          body: ReasonBody,
          response: { 200: AccessRequest, ...errorResponses(404, 409) },
        },
      },
      async (request) =>
        access.decide(
          request.params.id,
          decision === 'approve' ? 'approved' : 'rejected',
          request.body.reason,
          auditActorOf(request.principal),
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
        params: AppKeyParams,
        body: ReasonBody,
        response: {
          200: Type.Array(AccessRequest),
          ...errorResponses(404, 409),
        },
      },
    },
    async (request) =>
      access.revoke(request.params.key, request.body.reason, auditActorOf(request.principal)),
  );

  app.get(
    '/admin/email-access/use-cases',
    {
      config: { auth: adminAuth },
      schema: {
        tags,
        summary: 'The use-case catalogue and how each is decided (auto, review, never)',
        response: { 200: Type.Array(UseCase) },
      },
    },
    async () => access.useCases(),
  );

  app.post(
    '/admin/email-access/use-cases',
    {
      config: { auth: adminAuth },
      schema: {
        tags,
        summary: 'Adds a use case to the catalogue, with how requests naming it are decided',
        description: '409: a use case with this id exists (the catalogue is never edited).',
        body: UseCaseBody,
        response: { 201: UseCase, ...errorResponses(409) },
      },
    },
    async (request, reply) => {
      await access.addUseCase(request.body, auditActorOf(request.principal));
      return reply.code(201).send(request.body);
    },
  );
};
