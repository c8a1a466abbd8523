import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { auditActorOf } from '../audit/audit.service.js';
import { ADMIN_SCOPE } from '../auth/scopes.js';
import { errorResponses } from '../errors/error.schemas.js';
import { AccountIdParams, AppKeyParams, ClientKeyParams } from '../shared/common.schemas.js';
import { AdminAccount, AdminApp, ClosedAccount, EnabledWebhook, RotatedSecret } from './admin.schemas.js';
import type { AppWebhookService } from './app-webhook.service.js';
import type { DirectoryService } from './directory.service.js';
import { ImportFile, ImportSummary } from './import.schemas.js';
import type { DirectoryImporter } from './import.service.js';
import { visibleProfile } from './visibility.model.js';

const auth = { kind: 'api-client', scope: ADMIN_SCOPE } as const;
/** Directory imports are bigger than API calls; only admins (checked before the body is read) may send them. */
const IMPORT_BODY_LIMIT = 10 * 1024 * 1024;

/** The admin API over the directory, for the admin console: HTTP Basic with the admin:custos scope. */
export const adminDirectoryRoutes: FastifyPluginAsyncTypebox<{
  directory: DirectoryService;
  importer: DirectoryImporter;
  appWebhooks: AppWebhookService;
}> = async (app, { directory, importer, appWebhooks }) => {
  app.post(
    '/admin/directory/import',
    {
      config: { auth },
      bodyLimit: IMPORT_BODY_LIMIT,
      // The importer validates the whole file itself and reports every bad record by path.
      attachValidation: true,
      schema: {
        tags: ['Admin'],
        summary:
          'Imports directory data (checked whole, then written in short transactions; idempotent upsert)',
        description:
          'The `custos import` file format. Nothing is written if any record is invalid; the 400 lists every bad record by its path.',
        body: ImportFile,
        response: { 200: ImportSummary, ...errorResponses(409) },
      },
    },
    async (request) => importer.importDirectory(request.body, auditActorOf(request.principal)),
  );

  app.get(
    '/admin/accounts/:accountId',
    {
      config: { auth },
      schema: {
        tags: ['Admin'],
        summary: 'Returns an account with its profile and visibility settings',
        params: AccountIdParams,
        response: { 200: AdminAccount, ...errorResponses(404) },
      },
    },
    async (request) => {
      const account = await directory.viewAccount(request.params.accountId, auditActorOf(request.principal));
      return {
        accountId: account.accountId,
        accountType: account.accountType,
        active: account.active,
        profile: visibleProfile(account, { kind: 'admin' }),
        visibility: account.visibility,
        pdUpdatedAt: account.pdUpdatedAt,
        closedAt: account.closedAt,
      };
    },
  );

  app.post(
    '/admin/accounts/:accountId/close',
    {
      config: { auth },
      schema: {
        tags: ['Admin'],
        summary: 'Closes an account and erases its profile PD',
        description:
          'Keeps the accountId and the closure record; records an account.closed event. Idempotent.',
        params: AccountIdParams,
        response: { 200: ClosedAccount, ...errorResponses(404) },
      },
    },
    async (request) => {
      const closed = await directory.closeAccount(request.params.accountId, auditActorOf(request.principal));
      return { accountId: request.params.accountId, ...closed };
    },
  );

  app.get(
    '/admin/apps/:key',
    {
      config: { auth },
      schema: {
        tags: ['Admin'],
        summary: "Returns an app's settings (never its secrets)",
        params: AppKeyParams,
        response: { 200: AdminApp, ...errorResponses(404) },
      },
    },
    async (request) => directory.showApp(request.params.key),
  );

  app.post(
    '/admin/installations/:clientKey/uninstall',
    {
      config: { auth },
      schema: {
        tags: ['Admin'],
        summary: 'Uninstalls an app from a site; its credentials for that site stop working at once',
        params: ClientKeyParams,
        response: { 204: Type.Null(), ...errorResponses(404) },
      },
    },
    async (request, reply) => {
      await directory.uninstall(request.params.clientKey, auditActorOf(request.principal));
      return reply.code(204).send(undefined as never);
    },
  );

  app.post(
    '/admin/apps/:key/webhook/rotate-secret',
    {
      config: { auth },
      schema: {
        tags: ['Admin'],
        summary: "Gives an app's webhook endpoint a new signing secret, returned once",
        description:
          'The previous secret keeps signing beside the new one for CUSTOS_WEBHOOK_SECRET_GRACE_HOURS (one signature per secret in `webhook-signature`), so the vendor switches without losing a delivery. Not cached (`Cache-Control: no-store`). 409: the app has no webhook endpoint.',
        params: AppKeyParams,
        response: { 200: RotatedSecret, ...errorResponses(404, 409) },
      },
    },
    async (request, reply) => {
      const rotated = await appWebhooks.rotateSecret(request.params.key, auditActorOf(request.principal));
      return reply.header('cache-control', 'no-store').send(rotated);
    },
  );

  app.post(
    '/admin/apps/:key/webhook/enable',
    {
      config: { auth },
      schema: {
        tags: ['Admin'],
        summary: "Turns an app's webhook endpoint back on after it answered 410 Gone",
        description:
          'Its dead messages stay dead: redeliver them with `POST /admin/webhook-messages/redeliver`. `wasDisabled` false: it was on, nothing changed. 409: the app has no webhook endpoint.',
        params: AppKeyParams,
        response: { 200: EnabledWebhook, ...errorResponses(404, 409) },
      },
    },
    async (request) => appWebhooks.enable(request.params.key, auditActorOf(request.principal)),
  );
};
