import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { auditActorOf } from '../audit/audit.service.js';
import { ADMIN_SCOPE } from '../auth/scopes.js';
import { errorResponses } from '../errors/error.schemas.js';
import { AccountIdParams } from '../shared/common.schemas.js';
import { RoleBody, RoleChange, RoleGrantList, RoleParams } from './operator.schemas.js';
import type { OperatorService } from './operator.service.js';

const auth = { kind: 'api-client', scope: ADMIN_SCOPE } as const;
const tags = ['Admin: console roles'];

/** Console roles for the operator: the twins of `custos operator grant | revoke | list`. */
export const operatorRoutes: FastifyPluginAsyncTypebox<{ operators: OperatorService }> = async (
  app,
  { operators },
) => {
  app.get(
    '/admin/operators',
    {
      config: { auth },
      schema: { tags, summary: 'Lists who holds which console role', response: { 200: RoleGrantList } },
    },
    async () => ({ values: await operators.list() }),
  );

  app.post(
    '/admin/operators/:accountId/roles',
    {
      config: { auth },
      schema: {
        tags,
        summary: 'Grants a console role to an open account (audited)',
        params: AccountIdParams,
        body: RoleBody,
        response: { 200: RoleChange, ...errorResponses(404, 409) },
      },
    },
    async (request) => {
      const { accountId } = request.params;
      const { role } = request.body;
      const changed = await operators.grant(accountId, role, auditActorOf(request.principal));
      return { accountId, role, changed };
    },
  );

  app.delete(
    '/admin/operators/:accountId/roles/:role',
    {
      config: { auth },
      schema: {
        tags,
        summary: 'Revokes a console role; it stops working at the next request (audited)',
        params: RoleParams,
        response: { 200: RoleChange },
      },
    },
    async (request) => {
      const { accountId, role } = request.params;
      const changed = await operators.revoke(accountId, role, auditActorOf(request.principal));
      return { accountId, role, changed };
    },
  );
};
