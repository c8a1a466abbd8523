import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import { auditActorOf } from '../audit/audit.service.js';
import { errorResponses } from '../errors/error.schemas.js';
import { REGIMES } from './deadline.model.js';
import { DSR_STATES, DSR_TYPES } from './dsr.rules.js';
import type { DsrService } from './dsr.service.js';
import { pageHelpers, withoutFreeText, withoutStepErrors } from './dsr-pages.model.js';
import { CompleteForm, ExtendForm, PageIdParams, QueueQuery, ReasonForm } from './dsr-pages.schemas.js';

const read = { kind: 'operator', permission: 'read' } as const;

/** The signed-in operator's permissions (the route's check has put them on the request). */
const permissionsOf = (request: FastifyRequest): ReadonlySet<string> =>
  request.principal?.kind === 'operator' ? request.principal.permissions : new Set();
const manage = { kind: 'operator', permission: 'dsr:manage' } as const;
const posted = { 303: Type.Null(), ...errorResponses(400, 404, 409) };

/**
 * The console's DSR queue: every request with its deadline, the "needs attention" list, and
 * each request's timeline with the operator's actions. Reading takes the console's `read`
 * permission; a request's free text (what the person wrote, notes and reasons) also takes
 * `accounts:read` (auditors, privacy officers), as it is personal data; acting takes
 * `dsr:manage` (privacy officers). Plain form posts,
 * answered with a redirect back to the request.
 */
export const dsrConsoleRoutes: FastifyPluginAsyncTypebox<{ dsr: DsrService }> = async (app, { dsr }) => {
  app.get(
    '/console/requests',
    { config: { auth: read }, schema: { hide: true, querystring: QueueQuery } },
    async (request, reply) => {
      const filter = {
        type: request.query.type ? String(request.query.type) : undefined,
        state: request.query.state ? String(request.query.state) : undefined,
        regime: request.query.regime ? String(request.query.regime) : undefined,
      };
      const attention = await dsr.listNeedingAttention();
      return reply.page('console/requests', {
        title: 'Data-subject requests',
        requests: await dsr.list(filter),
        attention: permissionsOf(request).has('accounts:read') ? attention : attention.map(withoutStepErrors),
        filter,
        types: DSR_TYPES,
        states: DSR_STATES,
        regimes: REGIMES,
        h: pageHelpers,
      });
    },
  );

  app.get(
    '/console/requests/:id',
    { config: { auth: read }, schema: { hide: true, params: PageIdParams } },
    async (request, reply) => {
      const detail = await dsr.show(request.params.id);
      const permissions = permissionsOf(request);
      const canReadProfiles = permissions.has('accounts:read');
      return reply.page('console/request', {
        title: `Request ${detail.id}`,
        r: canReadProfiles ? detail : withoutFreeText(detail),
        freeTextHidden: !canReadProfiles,
        canManage: permissions.has('dsr:manage'),
        restrictionActive: (await dsr.standing(detail.accountId)).restricted,
        h: pageHelpers,
      });
    },
  );

  const back = (id: string) => `/console/requests/${id}`;

  app.post(
    '/console/requests/:id/verify',
    { config: { auth: manage }, schema: { hide: true, params: PageIdParams, response: posted } },
    async (request, reply) => {
      await dsr.verify(request.params.id, auditActorOf(request.principal));
      return reply.redirect(back(request.params.id), 303);
    },
  );

  app.post(
    '/console/requests/:id/extend',
    {
      config: { auth: manage },
      schema: { hide: true, params: PageIdParams, body: ExtendForm, response: posted },
    },
    async (request, reply) => {
      const amount = request.body.amount ? Number(request.body.amount) : undefined;
      await dsr.extend(request.params.id, amount, request.body.reason, auditActorOf(request.principal));
      return reply.redirect(back(request.params.id), 303);
    },
  );

  app.post(
    '/console/requests/:id/complete',
    {
      config: { auth: manage },
      schema: { hide: true, params: PageIdParams, body: CompleteForm, response: posted },
    },
    async (request, reply) => {
      const { note, ...fields } = request.body;
      // An empty field means "leave as it is".
      const changes = Object.fromEntries(
        Object.entries(fields).filter(([, v]) => v !== undefined && v.trim() !== ''),
      );
      await dsr.complete(
        request.params.id,
        { note: note?.trim() || undefined, changes },
        auditActorOf(request.principal),
      );
      return reply.redirect(back(request.params.id), 303);
    },
  );

  for (const [path, run] of [
    [
      'deny',
      (id: string, reason: string, actor: ReturnType<typeof auditActorOf>) => dsr.deny(id, reason, actor),
    ],
    [
      'expedite',
      (id: string, reason: string, actor: ReturnType<typeof auditActorOf>) => dsr.expedite(id, reason, actor),
    ],
  ] as const) {
    app.post(
      `/console/requests/:id/${path}`,
      {
        config: { auth: manage },
        schema: { hide: true, params: PageIdParams, body: ReasonForm, response: posted },
      },
      async (request, reply) => {
        await run(request.params.id, request.body.reason, auditActorOf(request.principal));
        return reply.redirect(back(request.params.id), 303);
      },
    );
  }

  app.post(
    '/console/requests/:id/lift-restriction',
    {
      config: { auth: manage },
      schema: { hide: true, params: PageIdParams, body: ReasonForm, response: posted },
    },
    async (request, reply) => {
      const r = await dsr.get(request.params.id);
      await dsr.liftRestriction(r.accountId, request.body.reason, auditActorOf(request.principal));
      return reply.redirect(back(request.params.id), 303);
    },
  );
};
