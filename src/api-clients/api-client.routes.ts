import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { auditActorOf } from '../audit/audit.service.js';
import { ADMIN_SCOPE } from '../auth/scopes.js';
import { errorResponses } from '../errors/error.schemas.js';
import {
  ClientList,
  CreatedToken,
  RevokedToken,
  TokenCreateBody,
  TokenIdParams,
  TokenList,
} from './api-client.schemas.js';
import type { ApiClientService } from './api-client.service.js';

const auth = { kind: 'api-client', scope: ADMIN_SCOPE } as const;
const tags = ['Admin: API clients'];

/** API clients and their tokens for the operator: the twins of `custos token …`. */
export const apiClientRoutes: FastifyPluginAsyncTypebox<{ apiClients: ApiClientService }> = async (
  app,
  { apiClients },
) => {
  app.get(
    '/admin/api-clients',
    {
      config: { auth },
      schema: {
        tags,
        summary: 'Lists API clients with their scopes and how many of their tokens work',
        response: { 200: ClientList },
      },
    },
    async () => ({ values: await apiClients.listClients() }),
  );

  app.get(
    '/admin/api-tokens',
    {
      config: { auth },
      schema: {
        tags,
        summary: "Lists tokens, oldest first, with their client's scopes (never a secret)",
        response: { 200: TokenList },
      },
    },
    async () => ({ values: await apiClients.listTokens() }),
  );

  app.post(
    '/admin/api-tokens',
    {
      config: { auth },
      schema: {
        tags,
        summary: 'Creates a token (and the client if its email is new), granting scopes',
        description:
          'The token is in this answer only (not cached: `Cache-Control: no-store`); Custos keeps its SHA-256. A scope outside the catalogue is refused (400 naming it).',
        body: TokenCreateBody,
        response: { 201: CreatedToken },
      },
    },
    async (request, reply) => {
      const created = await apiClients.createToken(request.body, auditActorOf(request.principal));
      return reply.code(201).header('cache-control', 'no-store').send(created);
    },
  );

  app.post(
    '/admin/api-tokens/:tokenId/revoke',
    {
      config: { auth },
      schema: {
        tags,
        summary: 'Revokes a token; it stops working at once (other processes: within CUSTOS_AUTH_CACHE_MS)',
        params: TokenIdParams,
        response: { 200: RevokedToken, ...errorResponses(404) },
      },
    },
    async (request) => apiClients.revokeToken(request.params.tokenId, auditActorOf(request.principal)),
  );
};
