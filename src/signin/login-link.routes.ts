import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { auditActorOf } from '../audit/audit.service.js';
import { ADMIN_SCOPE } from '../auth/scopes.js';
import { errorResponses } from '../errors/error.schemas.js';
import type { LoginLinks } from './login-link.service.js';
import { IssuedLoginLink, LoginLinkBody } from './signin.schemas.js';

/** The admin API twin of `custos login-link`. */
export const loginLinkRoutes: FastifyPluginAsyncTypebox<{
  links: LoginLinks;
  baseUrl: () => string;
}> = async (app, { links, baseUrl }) => {
  app.post(
    '/admin/login-links',
    {
      config: { auth: { kind: 'api-client', scope: ADMIN_SCOPE } },
      schema: {
        tags: ['Admin: sign-in'],
        summary: 'Issues a one-time sign-in link for an account (valid once, for 15 minutes)',
        description:
          'The link is in this answer only (`Cache-Control: no-store`); Custos keeps its SHA-256. Opening it shows a button whose POST signs the person in and sends them to `next` (default `/`). Audited as `admin.login-link-issued`.',
        body: LoginLinkBody,
        response: { 201: IssuedLoginLink, ...errorResponses(404, 409) },
      },
    },
    async (request, reply) => {
      const issued = await links.issue(
        request.body.accountId,
        request.body.next,
        auditActorOf(request.principal),
      );
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .send({
          linkId: issued.linkId,
          url: `${baseUrl()}${issued.path}`,
          next: issued.next,
          expiresAt: issued.expiresAt,
        });
    },
  );
};
