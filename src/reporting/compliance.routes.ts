import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { ADMIN_SCOPE } from '../auth/scopes.js';
import { errorResponses } from '../errors/error.schemas.js';
import { AccountIdParams, Nullable } from '../shared/common.schemas.js';
import type { ComplianceService } from './compliance.service.js';

const auth = { kind: 'api-client', scope: ADMIN_SCOPE } as const;

const AppCompliance = Type.Object(
  {
    appKey: Type.String(),
    name: Type.String(),
    storesPersonalData: Type.Boolean(),
    lastReportedAt: Nullable(Type.String()),
    heldAccounts: Type.Integer(),
    overdueAccounts: Type.Integer(),
    state: Type.Union([
      Type.Literal('ok'),
      Type.Literal('overdue'),
      Type.Literal('never-reported'),
      Type.Literal('not-applicable'),
    ]),
  },
  { additionalProperties: false },
);

const AccountEvidence = Type.Object(
  {
    accountId: Type.String(),
    closedAt: Nullable(Type.String()),
    apps: Type.Array(
      Type.Object(
        {
          appKey: Type.String(),
          holds: Type.Boolean(),
          retrievedAt: Nullable(Type.String()),
          reportedAt: Nullable(Type.String()),
          toldAt: Nullable(Type.String()),
          toldBy: Type.Array(Type.String()),
          deliveredAt: Nullable(Type.String()),
          webhookStatus: Nullable(Type.String()),
          confirmedAt: Nullable(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

/** The operator's compliance views (admin console): ids and times only, no PD. */
export const complianceRoutes: FastifyPluginAsyncTypebox<{ compliance: ComplianceService }> = async (
  app,
  { compliance },
) => {
  app.get(
    '/admin/compliance/apps',
    {
      config: { auth },
      schema: {
        tags: ['Admin'],
        summary: 'Per-app reporting compliance: held and overdue accounts, last report, never-reporting apps',
        response: {
          200: Type.Object({ apps: Type.Array(AppCompliance) }, { additionalProperties: false }),
        },
      },
    },
    async () => ({ apps: await compliance.listApps() }),
  );

  app.get(
    '/admin/compliance/accounts/:accountId',
    {
      config: { auth },
      schema: {
        tags: ['Admin'],
        summary: "Apps that hold this account's data, and who was told of its closure, when (GDPR art. 19)",
        params: AccountIdParams,
        response: { 200: AccountEvidence, ...errorResponses(404) },
      },
    },
    async (request) => compliance.accountEvidence(request.params.accountId),
  );
};
