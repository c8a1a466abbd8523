import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import Type, { type Static } from 'typebox';
import { auditActorOf } from '../audit/audit.service.js';
import { personOf } from '../auth/principal.js';
import { errorResponses } from '../errors/error.schemas.js';
import { DSR_TYPES } from './dsr.rules.js';
import type { DsrService } from './dsr.service.js';
import { pageHelpers, TYPE_LABELS } from './dsr-pages.model.js';
import { ExportQuery, FileForm, PageIdParams } from './dsr-pages.schemas.js';

const auth = { kind: 'account' } as const;
const posted = { 303: Type.Null(), ...errorResponses(400, 404, 409) };

/**
 * "My requests" in the privacy centre: the person files a request about their own account
 * (their session is their identity, so the clock starts at once), follows its state, due date
 * and any extension with its reason, downloads an export through a short-lived link, cancels
 * an erasure during its grace period, and lifts a restriction or an objection.
 */
export const dsrPrivacyRoutes: FastifyPluginAsyncTypebox<{ dsr: DsrService }> = async (app, { dsr }) => {
  app.get('/privacy/requests', { config: { auth }, schema: { hide: true } }, async (request, reply) => {
    const { accountId } = personOf(request);
    const requests = await dsr.list({ accountId });
    const withExports = await Promise.all(
      requests.map(async (r) => {
        const detail = r.type === 'access' && r.state === 'completed' ? await dsr.show(r.id) : undefined;
        return { ...r, download: detail?.exportAvailable ? dsr.exportLink(r.id, accountId) : undefined };
      }),
    );
    return reply.page('privacy/requests', {
      title: 'My requests',
      requests: withExports,
      standing: await dsr.standing(accountId),
      types: DSR_TYPES,
      typeLabels: TYPE_LABELS,
      h: pageHelpers,
    });
  });

  app.post(
    '/privacy/requests',
    { config: { auth }, schema: { hide: true, body: FileForm, response: posted } },
    async (request, reply) => {
      const person = personOf(request);
      await dsr.file(
        {
          accountId: person.accountId,
          type: request.body.type,
          details: request.body.details?.trim() || undefined,
          via: 'privacy-centre',
          signedIn: true,
        },
        { type: 'account', id: person.accountId },
      );
      return reply.redirect('/privacy/requests', 303);
    },
  );

  app.post(
    '/privacy/requests/:id/cancel',
    { config: { auth }, schema: { hide: true, params: PageIdParams, response: posted } },
    async (request, reply) => {
      const { accountId } = personOf(request);
      await dsr.cancel(request.params.id, accountId, { type: 'account', id: accountId });
      return reply.redirect('/privacy/requests', 303);
    },
  );

  app.post(
    '/privacy/restriction/lift',
    { config: { auth }, schema: { hide: true, response: posted } },
    async (request, reply) => {
      const { accountId } = personOf(request);
      await dsr.liftRestriction(accountId, 'lifted by the person', { type: 'account', id: accountId });
      return reply.redirect('/privacy/requests', 303);
    },
  );

  app.post(
    '/privacy/objection/lift',
    { config: { auth }, schema: { hide: true, response: posted } },
    async (request, reply) => {
      const { accountId } = personOf(request);
      await dsr.liftObjection(accountId, auditActorOf({ kind: 'account', accountId, sessionId: '' }));
      return reply.redirect('/privacy/requests', 303);
    },
  );

  // The export as a file (GDPR art. 20: structured, machine-readable) and as a readable page,
  // both only to the person whose request it is, through the link's signature.
  const ownExport = (
    request: FastifyRequest & { params: Static<typeof PageIdParams>; query: Static<typeof ExportQuery> },
  ) => dsr.readExport(request.params.id, personOf(request).accountId, request.query.exp, request.query.sig);
  app.get(
    '/privacy/requests/:id/export',
    { config: { auth }, schema: { hide: true, params: PageIdParams, querystring: ExportQuery } },
    async (request, reply) => {
      const document = await ownExport(request);
      return reply
        .header('content-type', 'application/json; charset=utf-8')
        .header('content-disposition', `attachment; filename="custos-export-${request.params.id}.json"`)
        .header('cache-control', 'no-store')
        .send(JSON.stringify(document, null, 2));
    },
  );

  app.get(
    '/privacy/requests/:id/export/view',
    { config: { auth }, schema: { hide: true, params: PageIdParams, querystring: ExportQuery } },
    async (request, reply) => {
      const document = await ownExport(request);
      return reply.page('privacy/export', { title: 'Your data', d: document, h: pageHelpers });
    },
  );
};
