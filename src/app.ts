import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify from 'fastify';
import { accessRoutes } from './access/access.routes.js';
import { apiClientRoutes } from './api-clients/api-client.routes.js';
import { auditRoutes } from './audit/audit.routes.js';
import { authPlugin } from './auth/auth.plugin.js';
import { oauthRoutes } from './auth/oauth.routes.js';
import { securitySchemes } from './auth/route-docs.js';
import { type Config, configuredBaseUrl } from './config.js';
import { consentRoutes } from './consent/consent.routes.js';
import { noticeRoutes } from './consent/notice.routes.js';
import { gpcSignalHook, privacyReceiptRoutes } from './consent/privacy-receipts.routes.js';
import { receiptRoutes } from './consent/receipt.routes.js';
import { consoleRoutes } from './console/console.routes.js';
import type { Context } from './context.js';
import { adminDirectoryRoutes } from './directory/admin.routes.js';
import { findAccount } from './directory/directory-read.service.js';
import { dsrRoutes } from './dsr/dsr.routes.js';
import { dsrConsoleRoutes } from './dsr/dsr-console.routes.js';
import { dsrPrivacyRoutes } from './dsr/dsr-privacy.routes.js';
import { validationError } from './errors/app-error.js';
import { errorHandlerPlugin, frameworkErrors } from './errors/error-handler.js';
import { grantRoutes } from './grants/grant.routes.js';
import { grantPages } from './grants/grant-pages.routes.js';
import { jobRoutes } from './jobs/jobs.routes.js';
import { RequestLogController } from './logger.js';
import { notificationRoutes } from './notifications/notification.routes.js';
import { notificationPageRoutes } from './notifications/notification-pages.routes.js';
import { operatorRoutes } from './operators/operator.routes.js';
import { ConnectionGuard, connectionGuardPlugin, httpLimitOptions } from './ops/connection-guard.js';
import { opsRoutes } from './ops/ops.routes.js';
import { privacyRoutes } from './privacy/privacy.routes.js';
import { complianceRoutes } from './reporting/compliance.routes.js';
import { reportingRoutes } from './reporting/reporting.routes.js';
import { sessionCookie } from './sessions/session-cookie.js';
import { homeRoutes } from './signin/home.routes.js';
import { loginLinkRoutes } from './signin/login-link.routes.js';
import { signInRoutes } from './signin/signin.routes.js';
import { userRoutes } from './users/users.routes.js';
import { coercingAjv, strictAjv } from './validation.js';
import { assetRoutes } from './web/assets.routes.js';
import { signOutRoutes } from './web/sign-out.routes.js';
import { webPlugin } from './web/web.plugin.js';
import { ASSETS_PREFIX } from './web/web-paths.js';
import { webhookRoutes } from './webhooks/webhook.routes.js';

const DOCS_PREFIX = '/docs';

/**
 * Builds the HTTP application on a ready context. Registration order is the architecture:
 * infrastructure (validation, errors, metrics, docs, auth), then each domain's routes.
 * Listening is the caller's business (server.ts), so tests use `inject` on the same app.
 */
function createFastify(ctx: Context, guard: ConnectionGuard) {
  return Fastify({
    loggerInstance: ctx.log,
    trustProxy: ctx.config.trustProxy,
    bodyLimit: ctx.config.bodyLimit,
    return503OnClosing: true,
    // The longest path parameter a route schema admits (an installation's clientKey).
    routerOptions: { maxParamLength: 255 },
    frameworkErrors,
    logController: new RequestLogController(),
    ...httpLimitOptions(ctx.config),
    clientErrorHandler: guard.onClientError,
  }).withTypeProvider<TypeBoxTypeProvider>();
}

export type App = ReturnType<typeof createFastify>;

/**
 * The base of links in answers (`self`, default avatars). Never the request's Host header,
 * which any client sets: `Host: evil.example` would turn Custos's answers into links to
 * another site (and poison shared caches). Without CUSTOS_PUBLIC_URL, the address Custos
 * listens on, with the port actually bound (PORT=0 picks one).
 */
function linkBase(config: Config, app: App): () => string {
  const { publicUrl } = config;
  if (publicUrl) return () => publicUrl;
  let base = configuredBaseUrl(config);
  app.server.once('listening', () => {
    const address = app.server.address();
    if (address && typeof address === 'object') base = base.replace(/:\d+$/, `:${address.port}`);
  });
  return () => base;
}

function reportingOptions(ctx: Context) {
  const { config } = ctx;
  return {
    reporting: ctx.reporting,
    cycleDays: config.reportCycleDays,
    rateLimit: {
      max: config.reportRateLimit,
      windowMs: config.reportRateWindowMs,
      redis: ctx.redis,
      prefix: config.redisKeyPrefix,
    },
  };
}

export async function buildApp(ctx: Context): Promise<App> {
  const guard = new ConnectionGuard(ctx.config, ctx.metrics, ctx.log);
  const app = createFastify(ctx, guard);
  await app.register(connectionGuardPlugin, { guard });

  // Bodies are JSON only: a text/plain body is refused with 415, not half-parsed.
  app.removeContentTypeParser(['text/plain']);
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? strictAjv : coercingAjv).compile(schema),
  );

  await app.register(errorHandlerPlugin);

  // RFC 9112 §3.2: an HTTP/1.1 request without Host is answered 400. Before authentication,
  // so that the answer does not depend on credentials.
  // Hooks whose work is synchronous take Fastify's callback form: no promise per request.
  app.addHook('onRequest', (request, _reply, done) => {
    if (request.raw.httpVersion === '1.1' && !request.headers.host) {
      return done(validationError('host', 'the Host header is required'));
    }
    done();
  });

  app.addHook('onResponse', ctx.metrics.httpHook());

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Custos',
        version: '0.1.0',
        description:
          'Self-hosted privacy and consent platform. Errors share one body: {errorType, errorMessage, field?}.',
      },
      components: { securitySchemes: securitySchemes(sessionCookie(ctx.config.publicUrl).name) },
    },
  });
  // Before any route, so that its onRoute check sees every route, the docs UI's included.
  await app.register(authPlugin, {
    tokens: ctx.tokens,
    appAuth: ctx.appAuth,
    people: ctx.people,
    // Static files are served by a third-party plugin, like the docs UI.
    publicPrefixes: [DOCS_PREFIX, ASSETS_PREFIX],
  });
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX });

  await app.register(opsRoutes, { database: ctx.database, metrics: ctx.metrics });
  app.get('/openapi.json', { config: { auth: { kind: 'public' } }, schema: { hide: true } }, async () =>
    app.swagger(),
  );

  await app.register(consentRoutes, { consent: ctx.consent });
  await app.register(oauthRoutes, { oauth: ctx.oauth, userGrants: ctx.grants });
  await app.register(grantRoutes, { grants: ctx.grants, oauth: ctx.oauth, people: ctx.people });
  await app.register(userRoutes, { users: ctx.users, baseUrl: linkBase(ctx.config, app) });
  await app.register(noticeRoutes, { notices: ctx.notices });
  await app.register(receiptRoutes, { receipts: ctx.receipts });
  await app.register(apiClientRoutes, { apiClients: ctx.apiClients });
  await app.register(adminDirectoryRoutes, {
    directory: ctx.directory,
    importer: ctx.importer,
    appWebhooks: ctx.appWebhooks,
  });
  await app.register(webhookRoutes, { outbox: ctx.outbox });
  await app.register(accessRoutes, { access: ctx.access });
  await app.register(auditRoutes, { database: ctx.database, checkpoints: ctx.auditCheckpoints });
  await app.register(jobRoutes, { jobs: ctx.jobs });
  await app.register(reportingRoutes, reportingOptions(ctx));
  await app.register(complianceRoutes, { compliance: ctx.compliance });
  await app.register(operatorRoutes, { operators: ctx.operators });
  const baseUrl = linkBase(ctx.config, app);
  await app.register(loginLinkRoutes, { links: ctx.loginLinks, baseUrl });
  await app.register(dsrRoutes, { dsr: ctx.dsr, partMaxBytes: ctx.config.dsrPartMaxBytes });
  await app.register(notificationRoutes, { relay: ctx.notifications });

  // Pages for people, in one encapsulated context: form bodies, cookies, views, CSRF and the
  // CSP apply there only, and the JSON APIs above keep answering 415 to anything but JSON.
  await app.register(async (web) => {
    await web.register(webPlugin, {
      sessions: ctx.sessions,
      roles: ctx.operators,
      publicUrl: ctx.config.publicUrl,
      csrfKey: ctx.csrfKey,
    });
    // Global Privacy Control on every privacy-centre page, whoever's routes they are.
    web.addHook('preHandler', gpcSignalHook(ctx.preferences));
    await web.register(assetRoutes);
    await web.register(signOutRoutes, {
      sessions: ctx.sessions,
      people: ctx.people,
      // The authorization server's session with the browser ends with the person's (grants).
      follower: ctx.grants,
      publicUrl: ctx.config.publicUrl,
    });
    await web.register(signInRoutes, {
      codes: ctx.signInCodes,
      links: ctx.loginLinks,
      oidc: ctx.oidc,
      people: ctx.people,
      secrets: ctx.secrets,
      publicUrl: ctx.config.publicUrl,
      baseUrl,
    });
    await web.register(homeRoutes, { people: ctx.people, roles: ctx.operators });
    await web.register(consoleRoutes, {
      console: ctx.console,
      access: ctx.access,
      directory: ctx.directory,
      apiClients: ctx.apiClients,
      notices: ctx.notices,
      outbox: ctx.outbox,
      appWebhooks: ctx.appWebhooks,
    });
    await web.register(privacyRoutes, { privacy: ctx.privacy, publicUrl: ctx.config.publicUrl });
    await web.register(grantPages, { grants: ctx.grants });
    await web.register(dsrConsoleRoutes, { dsr: ctx.dsr });
    await web.register(dsrPrivacyRoutes, { dsr: ctx.dsr });
    await web.register(privacyReceiptRoutes, {
      receipts: ctx.receipts,
      preferences: ctx.preferences,
      emailOf: async (accountId) =>
        (await findAccount(ctx.database.db, accountId))?.profile.email ?? undefined,
    });
    await web.register(notificationPageRoutes, { relay: ctx.notifications });
  });

  return app;
}
