import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { auditActorOf } from '../audit/audit.service.js';
import { personOf } from '../auth/principal.js';
import { errorResponses } from '../errors/error.schemas.js';
import { GRANT_ROUTES, type GrantService } from './grant.service.js';

const auth = { kind: 'account' } as const;
// Pages for people, not part of the JSON API: kept out of the OpenAPI document.
const pageSchema = { hide: true, response: { ...errorResponses(400, 401, 403, 404, 500) } };
const Uid = Type.Object({ uid: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }) });
const GrantId = Type.Object({ grantId: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }) });
export const CONNECTED_APPS_PATH = '/privacy/connected-apps';

/**
 * The policy of a page whose form ends at the app: after the consent post, the browser is
 * redirected through the authorization endpoint to the app's redirect URI, and CSP
 * form-action applies to every redirect of a form submission.
 */
function allowingFormRedirectTo(policy: unknown, origin: string): string | undefined {
  if (typeof policy !== 'string') return undefined;
  return policy.replace("form-action 'self'", `form-action 'self' ${origin}`);
}

/**
 * Custos's pages of the authorization flow (docs/app-grants.md) and the person's connected
 * apps (docs/app-grants.md#connected-apps): the consent screen and "Remove access".
 */
export const grantPages: FastifyPluginAsyncTypebox<{ grants: GrantService }> = async (app, { grants }) => {
  app.get(
    `${GRANT_ROUTES.interaction}/:uid`,
    { config: { auth }, schema: { ...pageSchema, params: Uid } },
    async (request, reply) => {
      const step = await grants.interaction(request.raw, reply.raw, personOf(request).accountId);
      if ('redirect' in step) return reply.redirect(step.redirect, 303);
      const policy = allowingFormRedirectTo(
        reply.getHeader('content-security-policy'),
        step.consent.redirectOrigin,
      );
      if (policy) reply.header('content-security-policy', policy);
      return reply.page('grants/consent', { title: `Allow ${step.consent.appName}?`, ...step.consent });
    },
  );

  app.post(
    `${GRANT_ROUTES.interaction}/:uid`,
    {
      config: { auth },
      schema: {
        ...pageSchema,
        params: Uid,
        body: Type.Object({ decision: Type.Union([Type.Literal('allow'), Type.Literal('deny')]) }),
      },
    },
    async (request, reply) => {
      const next = await grants.decide(
        request.raw,
        reply.raw,
        personOf(request).accountId,
        request.body.decision === 'allow',
      );
      return reply.redirect(next, 303);
    },
  );

  app.get(
    CONNECTED_APPS_PATH,
    {
      config: { auth },
      schema: { ...pageSchema, querystring: Type.Object({ removed: Type.Optional(Type.Literal('1')) }) },
    },
    async (request, reply) =>
      reply.page('grants/connected-apps', {
        title: 'Connected apps',
        apps: await grants.listConnectedApps(personOf(request).accountId),
        removed: request.query.removed === '1',
        path: CONNECTED_APPS_PATH,
      }),
  );

  app.post(
    `${CONNECTED_APPS_PATH}/:grantId/remove`,
    { config: { auth }, schema: { ...pageSchema, params: GrantId } },
    async (request, reply) => {
      const person = personOf(request);
      await grants.removeGrant(person.accountId, request.params.grantId, auditActorOf(person));
      return reply.redirect(`${CONNECTED_APPS_PATH}?removed=1`, 303);
    },
  );
};
