import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { AuditActor } from '../audit/audit.service.js';
import { ADMIN_SCOPE, apiClientOf, type Principal } from '../auth/principal.js';
import { errorResponses } from '../errors/error.schemas.js';
import { AccountIdParams, AppKeyParams, ClientKeyParams } from '../shared/common.schemas.js';
import { AdminAccount, AdminApp, ClosedAccount } from './admin.schemas.js';
import type { DirectoryService } from './directory.service.js';
import { ImportFile, ImportSummary } from './import.schemas.js';
import type { DirectoryImporter } from './import.service.js';
import { visibleProfile } from './visibility.model.js';

const auth = { kind: 'api-client', scope: ADMIN_SCOPE } as const;
const security = [{ basic: [] }];
/** Directory imports are bigger than API calls; only admins (checked before the body is read) may send them. */
const IMPORT_BODY_LIMIT = 10 * 1024 * 1024;

function actorOf(request: { principal?: Principal }): AuditActor {
  return { type: 'api-client', id: apiClientOf(request).clientId };
}

/** The admin API over the directory, for the admin console: HTTP Basic with the admin:custos scope. */
export const adminDirectoryRoutes: FastifyPluginAsyncTypebox<{
  directory: DirectoryService;
  importer: DirectoryImporter;
}> = async (app, { directory, importer }) => {
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
        security,
        body: ImportFile,
        response: { 200: ImportSummary, ...errorResponses(400, 401, 403, 409, 413, 415, 500, 503) },
      },
    },
    async (request) => importer.importDirectory(request.body, actorOf(request)),
  );

  app.get(
    '/admin/accounts/:accountId',
    {
      config: { auth },
      schema: {
        tags: ['Admin'],
        summary: 'Returns an account with its profile and visibility settings',
        security,
        params: AccountIdParams,
        response: { 200: AdminAccount, ...errorResponses(400, 401, 403, 404, 500, 503) },
      },
    },
    async (request) => {
      const account = await directory.viewAccount(request.params.accountId, actorOf(request));
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
        security,
        params: AccountIdParams,
        response: { 200: ClosedAccount, ...errorResponses(400, 401, 403, 404, 500, 503) },
      },
    },
    async (request) => {
      const closed = await directory.closeAccount(request.params.accountId, actorOf(request));
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
        security,
        params: AppKeyParams,
        response: { 200: AdminApp, ...errorResponses(400, 401, 403, 404, 500, 503) },
      },
    },
    async (request) => directory.showApp(request.params.key, { revealSecret: false }),
  );

  app.post(
    '/admin/installations/:clientKey/uninstall',
    {
      config: { auth },
      schema: {
        tags: ['Admin'],
        summary: 'Uninstalls an app from a site; its credentials for that site stop working at once',
        security,
        params: ClientKeyParams,
        response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404, 500, 503) },
      },
    },
    async (request, reply) => {
      await directory.uninstall(request.params.clientKey, actorOf(request));
      return reply.code(204).send(undefined as never);
    },
  );
};
