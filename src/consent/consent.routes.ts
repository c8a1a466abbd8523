import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { apiClientOf } from '../auth/principal.js';
import { CONSENT_HUB_SCOPE } from '../auth/scopes.js';
import { ConsentBody, ConsentConfigBody, ConsentConfiguration } from './consent.schemas.js';
import type { ConsentService } from './consent.service.js';

const auth = { kind: 'api-client', scope: CONSENT_HUB_SCOPE } as const;

/**
 * ConsentHub API (docs/wire-contracts.md#consenthub): HTTP Basic `email:token` with
 * manage:consent-hub-consent.
 */
export const consentRoutes: FastifyPluginAsyncTypebox<{ consent: ConsentService }> = async (
  app,
  { consent },
) => {
  app.post(
    '/consent-hub/consent',
    {
      config: { auth },
      schema: {
        tags: ['ConsentHub'],
        summary: "Sets a user's consents",
        description:
          'Validates and durably stores the request, then answers 202; the change is applied asynchronously, normally within milliseconds. Granting a consent requires the exact text of a registered notice version.',
        body: ConsentBody,
        response: {
          202: Type.Null({ description: 'Accepted: stored durably, applied asynchronously.' }),
        },
      },
    },
    async (request, reply) => {
      await consent.submitConsent(apiClientOf(request), request.body, {
        remoteAddr: request.ip,
        userAgent: request.headers['user-agent'] ?? null,
      });
      // No body: the contract's 202 has none.
      return reply.code(202).send(undefined as never);
    },
  );

  app.post(
    '/consent-hub/consent-config/get',
    {
      config: { auth },
      schema: {
        tags: ['ConsentHub'],
        summary: 'Retrieves user consent and locale information by IP address and user email',
        body: ConsentConfigBody,
        response: { 200: ConsentConfiguration },
      },
    },
    async (request) => consent.getConsentConfiguration(request.body),
  );
};
