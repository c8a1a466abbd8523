import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { CONSENT_HUB_SCOPE } from '../auth/scopes.js';
import { errorResponses } from '../errors/error.schemas.js';
import {
  GpcSupport,
  Jwks,
  Receipt,
  ReceiptList,
  ReceiptParams,
  ReceiptSearchBody,
} from './receipt.schemas.js';
import type { ReceiptService } from './receipt.service.js';

/** The day Custos's support of Global Privacy Control last changed (the well-known file's lastUpdate). */
export const GPC_LAST_UPDATE = '2026-12-01';

const publicRoute = { auth: { kind: 'public' } } as const;

/**
 * Signed consent receipts for the marketing system (ConsentHub credentials), the public keys
 * that verify them, and the Global Privacy Control support statement.
 */
export const receiptRoutes: FastifyPluginAsyncTypebox<{ receipts: ReceiptService }> = async (
  app,
  { receipts },
) => {
  app.get(
    '/consent-hub/receipts/:receiptId',
    {
      config: { auth: { kind: 'api-client', scope: CONSENT_HUB_SCOPE } },
      schema: {
        tags: ['ConsentHub'],
        summary: 'Fetches a signed consent receipt by its id',
        description:
          'Every consent change has a receipt: a compact JWS signed with a key published at /.well-known/jwks.json.',
        params: ReceiptParams,
        response: { 200: Receipt, ...errorResponses(404) },
      },
    },
    async (request) => receipts.getReceipt(request.params.receiptId),
  );

  // A POST with the email in the body, as consent-config/get: no address in URLs or access logs.
  app.post(
    '/consent-hub/receipts/search',
    {
      config: { auth: { kind: 'api-client', scope: CONSENT_HUB_SCOPE } },
      schema: {
        tags: ['ConsentHub'],
        summary: 'Lists the signed consent receipts recorded under an email',
        body: ReceiptSearchBody,
        response: { 200: ReceiptList },
      },
    },
    async (request) => ({ receipts: await receipts.listReceiptsByEmail(request.body.email) }),
  );

  app.get(
    '/.well-known/jwks.json',
    {
      config: publicRoute,
      schema: {
        tags: ['ConsentHub'],
        summary: 'The public keys that verify consent receipts (JWK Set, RFC 7517)',
        description: 'Every key that has signed a receipt stays here after a rotation.',
        response: { 200: Jwks },
      },
    },
    async (_request, reply) => {
      // Short: a rotation's new key must reach verifiers soon (jose refetches on an unknown kid anyway).
      reply.header('cache-control', 'public, max-age=300');
      return receipts.jwks();
    },
  );

  app.get(
    '/.well-known/gpc.json',
    {
      config: publicRoute,
      schema: {
        tags: ['ConsentHub'],
        summary: 'States that this site honours Global Privacy Control',
        response: { 200: GpcSupport },
      },
    },
    async () => ({ gpc: true, lastUpdate: GPC_LAST_UPDATE }),
  );
};
