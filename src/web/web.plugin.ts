import fastifyCookie from '@fastify/cookie';
import csrfProtection from '@fastify/csrf-protection';
import formBody from '@fastify/formbody';
import helmet, { type FastifyHelmetOptions } from '@fastify/helmet';
import fastifyView from '@fastify/view';
import { Eta } from 'eta';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { OperatorRoleSource } from '../auth/operator-roles.port.js';
import { AppError } from '../errors/app-error.js';
import { fromValidation } from '../errors/error-handler.js';
import type { SessionService } from '../sessions/session.service.js';
import { cookieSpec, sessionCookie } from '../sessions/session-cookie.js';
import { acceptsHtml, isPageNavigation, LOGIN_PATH, loginPath } from './navigation.js';
import {
  CSRF_HEADER,
  csrfBinding,
  csrfRefusal,
  csrfTokenOf,
  dropCsrfField,
  SAFE_METHODS,
  sameOriginCheck,
} from './request-checks.js';
import { VIEWS_DIR } from './web-paths.js';

export interface WebOptions {
  sessions: SessionService;
  /** Console roles: a refused person is pointed to the console home only if they have one. */
  roles: OperatorRoleSource;
  /** CUSTOS_PUBLIC_URL: https there makes every cookie Secure and `__Host-`. */
  publicUrl: string | undefined;
  /** Key of the HMAC that binds CSRF tokens to the session (derived from the master key). */
  csrfKey: Buffer;
}

declare module 'fastify' {
  interface FastifyReply {
    /**
     * Renders `web/views/<template>.eta` with `data`, plus what the layout needs: the CSRF
     * token (`it.csrfToken`, for every form's `_csrf` field) and whether someone is signed in.
     */
    page(template: string, data?: Record<string, unknown>): FastifyReply;
    /**
     * Signs `accountId` in on this browser: ends the session the request presented, if any,
     * and sets the cookie of a new one (a new id at every sign-in: no fixation).
     */
    startSession(accountId: string): Promise<void>;
  }
}

/**
 * A strict policy for pages (OWASP ASVS V14.4): scripts, styles and everything else from
 * this origin only, no inline script or style, no framing, forms posting only here.
 */
function securityHeaders(https: boolean): FastifyHelmetOptions {
  return {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        'default-src': ["'self'"],
        'script-src': ["'self'"],
        'style-src': ["'self'"],
        'img-src': ["'self'"],
        'object-src': ["'none'"],
        'base-uri': ["'none'"],
        'form-action': ["'self'"],
        'frame-ancestors': ["'none'"],
        ...(https ? { 'upgrade-insecure-requests': [] } : {}),
      },
    },
    // Over plain http (a local start) HSTS would mean nothing; behind https, a year.
    strictTransportSecurity: https ? { maxAge: 31_536_000, includeSubDomains: false } : false,
    xFrameOptions: { action: 'deny' },
    // Same-origin requests keep a real Origin header (the origin check reads it); no URL,
    // which may name an account, leaves for another site.
    referrerPolicy: { policy: 'same-origin' },
  };
}

/**
 * The HTML stack, for the encapsulated context that holds the pages for people (app.ts):
 * cookies, urlencoded form bodies, views, security headers, the origin check and CSRF
 * tokens apply there and never to the JSON APIs, which keep refusing non-JSON bodies.
 */
export const webPlugin = fp(
  async (web: FastifyInstance, opts: WebOptions) => {
    const https = opts.publicUrl?.startsWith('https:') ?? false;
    const session = sessionCookie(opts.publicUrl);
    const csrfCookie = cookieSpec('custos-csrf', opts.publicUrl);

    await web.register(fastifyCookie);
    await web.register(formBody);
    await web.register(helmet, securityHeaders(https));
    await web.register(csrfProtection, {
      cookieKey: csrfCookie.name,
      cookieOpts: csrfCookie.options,
      getToken: csrfTokenOf,
      getUserInfo: (request) => csrfBinding(request, session.name),
      csrfOpts: { hmacKey: opts.csrfKey, userInfo: true },
    });
    await web.register(fastifyView, {
      engine: { eta: new Eta() },
      root: VIEWS_DIR,
      // Compiled templates are cached: they are files of the release, not content.
      production: true,
    });

    web.addHook('onRequest', sameOriginCheck(opts.publicUrl));
    // After body parsing, so that the token can come in the form; before validation, so that
    // form schemas need not list it.
    web.addHook('preValidation', (request, reply, done) => {
      if (SAFE_METHODS.has(request.method)) return done();
      web.csrfProtection(request, reply, () => {
        dropCsrfField(request);
        done();
      });
    });
    // Pages may show personal data: no copy stays in a shared browser's cache after sign-out.
    web.addHook('onSend', async (_request, reply, payload) => {
      const type = reply.getHeader('content-type');
      if (typeof type === 'string' && type.startsWith('text/html')) reply.header('cache-control', 'no-store');
      return payload;
    });

    web.decorateReply(
      'page',
      function (this: FastifyReply, template: string, data: Record<string, unknown> = {}) {
        const csrfToken = this.generateCsrf({ userInfo: csrfBinding(this.request, session.name) });
        const principal = this.request.principal;
        const kind = principal?.kind;
        return this.view(template, {
          // What a console role allows, so that navigation shows only what the person may open.
          may:
            principal?.kind === 'operator'
              ? Object.fromEntries([...principal.permissions].map((p) => [p, true]))
              : {},
          ...data,
          csrfToken,
          // htmx sends this header with every request it makes (hx-headers on <body>).
          hxHeaders: JSON.stringify({ [CSRF_HEADER]: csrfToken }),
          signedIn: kind === 'account' || kind === 'operator',
        });
      },
    );

    web.decorateReply('startSession', async function (this: FastifyReply, accountId: string) {
      const presented = this.request.cookies[session.name];
      const previous = presented ? await opts.sessions.authenticate(presented) : undefined;
      if (previous) await opts.sessions.end(previous.accountId, previous.id);
      const created = await opts.sessions.create(accountId, {
        userAgent: this.request.headers['user-agent'],
      });
      this.setCookie(session.name, created.token, session.options);
    });

    /**
     * Where a refused person can go instead: the console home if they hold a console role,
     * their privacy centre, or signing in as someone else. A refusal may come before the route
     * knew who they are (a missing permission), so the session is read here; the layout then
     * shows them signed in, with its "Sign out".
     */
    async function wayOnFrom(request: FastifyRequest): Promise<{ signedIn: boolean; console: boolean }> {
      const presented = request.cookies[session.name];
      const live = presented ? await opts.sessions.authenticate(presented) : undefined;
      if (!live) return { signedIn: false, console: false };
      request.principal ??= { kind: 'account', accountId: live.accountId, sessionId: live.id };
      const roles = await opts.roles.rolesOf(live.accountId);
      return { signedIn: true, console: roles.length > 0 };
    }

    web.setErrorHandler(async (error: FastifyError, request, reply) => {
      const known =
        csrfRefusal(error) ??
        (error instanceof AppError
          ? error
          : error.validation
            ? fromValidation(error.validation, error.validationContext)
            : undefined);
      if (known?.code === 'UNAUTHENTICATED' && isPageNavigation(request))
        return reply.redirect(loginPath(request.url), 303);
      if (known && acceptsHtml(request)) {
        for (const [name, value] of Object.entries(known.headers)) reply.header(name, value);
        const wayOn = known.code === 'FORBIDDEN' ? await wayOnFrom(request) : undefined;
        return reply.status(known.status).page('error', {
          title: errorTitle(known),
          message: known.message,
          signInPath: known.code === 'UNAUTHENTICATED' || wayOn?.signedIn === false ? LOGIN_PATH : undefined,
          wayOn,
        });
      }
      // Everything else (API clients, htmx partials, unexpected errors) gets the JSON error
      // shape, and unexpected errors their log line, from the application's error handler.
      throw known ?? error;
    });
  },
  { name: 'custos-web' },
);

function errorTitle(error: AppError): string {
  switch (error.code) {
    case 'UNAUTHENTICATED':
      return 'Please sign in';
    case 'FORBIDDEN':
      return 'Not allowed';
    case 'NOT_FOUND':
      return 'Not found';
    default:
      return 'Something is not right';
  }
}
