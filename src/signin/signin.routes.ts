import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import Type from 'typebox';
import type { PersonAuthenticator } from '../auth/person-auth.js';
import type { SecretBox } from '../crypto/secret-box.js';
import { AppError } from '../errors/app-error.js';
import { errorResponses } from '../errors/error.schemas.js';
import { cookieSpec } from '../sessions/session-cookie.js';
import { LOGIN_PATH, loginPath, safeNextPath } from '../web/navigation.js';
import { CODE_MAX_ATTEMPTS, type EmailCodeSignIn } from './email-code.service.js';
import type { LoginLinks } from './login-link.service.js';
import {
  OIDC_CALLBACK_PATH,
  OIDC_TRANSACTION_MS,
  type OidcSignIn,
  type OidcTransaction,
} from './oidc.service.js';
import {
  CodeRequestBody,
  CodeVerifyBody,
  LinkParams,
  NextQuery,
  OidcCallbackQuery,
} from './signin.schemas.js';

const auth = { kind: 'public' } as const;
// Pages for people, not part of the JSON API: kept out of the OpenAPI document.
const page = { hide: true };
const redirect = { 303: Type.Null() };
const OIDC_COOKIE_CONTEXT = 'oidc-sign-in';

export interface SignInRouteOptions {
  codes: EmailCodeSignIn;
  links: LoginLinks;
  /** Absent without CUSTOS_OIDC_ISSUER: the method is not offered. */
  oidc: OidcSignIn | undefined;
  people: PersonAuthenticator;
  /** Encrypts the OpenID Connect transaction kept in a cookie while the person is at the provider. */
  secrets: SecretBox;
  publicUrl: string | undefined;
  /** This Custos's base URL as people reach it (the redirect URI the provider knows). */
  baseUrl: () => string;
}

/**
 * One sign-in page for everyone (the console and the privacy centre send people here with
 * `?next=`), offering each method that is set up: the upstream OpenID Connect provider, a
 * code by mail, and the operator's one-time links. Every way ends in `reply.startSession`:
 * a new session and cookie (no fixation), then a redirect to `next`, which is always a path
 * on this site (safeNextPath: no open redirect).
 */
export const signInRoutes: FastifyPluginAsyncTypebox<SignInRouteOptions> = async (app, opts) => {
  const { codes, links, oidc, people } = opts;
  const oidcCookie = cookieSpec('custos-oidc', opts.publicUrl);

  async function signIn(reply: FastifyReply, accountId: string, next: string) {
    await reply.startSession(accountId);
    return reply.redirect(safeNextPath(next), 303);
  }

  function loginPage(reply: FastifyReply, next: string) {
    return reply.page('signin/login', {
      title: 'Sign in',
      next,
      oidc: oidc && { host: oidc.issuerHost, href: `/login/oidc?next=${encodeURIComponent(next)}` },
      emailCode: codes.enabled,
    });
  }

  app.get(
    LOGIN_PATH,
    { config: { auth }, schema: { ...page, querystring: NextQuery, response: redirect } },
    async (request, reply) => {
      const next = safeNextPath(request.query.next);
      // Already signed in: straight on (sign out first to change accounts), never back here.
      if (await people.find(request)) return reply.redirect(next.startsWith(LOGIN_PATH) ? '/' : next, 303);
      return loginPage(reply, next);
    },
  );

  app.post(
    '/login/code',
    { config: { auth }, schema: { ...page, body: CodeRequestBody, response: errorResponses(429) } },
    async (request, reply) => {
      if (!codes.enabled) throw new AppError('NOT_FOUND', 'Sign-in by emailed code is not set up here');
      const next = safeNextPath(request.body.next);
      const challenge = await codes.request(request.body.email, request.ip);
      return reply.page('signin/code', {
        title: 'Enter your code',
        email: request.body.email.trim(),
        challenge,
        next,
        retryPath: loginPath(next),
      });
    },
  );

  app.post(
    '/login/code/verify',
    {
      config: { auth },
      schema: { ...page, body: CodeVerifyBody, response: { ...redirect, ...errorResponses(410, 429) } },
    },
    async (request, reply) => {
      const { challenge, code } = request.body;
      const next = safeNextPath(request.body.next);
      const check = await codes.verify(challenge, code, request.ip);
      if (check.ok) return signIn(reply, check.accountId, next);
      if (check.reason === 'wrong')
        return reply.status(400).page('signin/code', {
          title: 'Enter your code',
          challenge,
          next,
          retryPath: loginPath(next),
          error: `That code is not right. ${check.attemptsLeft} of ${CODE_MAX_ATTEMPTS} tries left.`,
        });
      return reply.status(410).page('signin/refused', {
        title: 'This code no longer works',
        message:
          'The code was used, is more than 10 minutes old, or was entered wrongly too many times. Ask for a new one.',
        retryPath: loginPath(next),
      });
    },
  );

  const linkRefused = (reply: FastifyReply) =>
    reply.status(410).page('signin/refused', {
      title: 'This sign-in link no longer works',
      message: 'Sign-in links work once, for 15 minutes. Ask your operator for a new one.',
      retryPath: LOGIN_PATH,
    });

  app.get(
    '/login/link/:token',
    { config: { auth }, schema: { ...page, params: LinkParams, response: errorResponses(410) } },
    async (request, reply) => {
      if (!(await links.usable(request.params.token))) return linkRefused(reply);
      // No referrer leaves with the token in it, even to this site's own pages.
      reply.header('referrer-policy', 'no-referrer');
      return reply.page('signin/link', { title: 'Sign in', action: request.url });
    },
  );

  app.post(
    '/login/link/:token',
    {
      config: { auth },
      schema: { ...page, params: LinkParams, response: { ...redirect, ...errorResponses(410) } },
    },
    async (request, reply) => {
      const used = await links.use(request.params.token);
      if (!used) return linkRefused(reply);
      return signIn(reply, used.accountId, used.next);
    },
  );

  if (oidc) {
    const redirectUri = () => `${opts.baseUrl()}${OIDC_CALLBACK_PATH}`;

    app.get(
      '/login/oidc',
      {
        config: { auth },
        schema: { ...page, querystring: NextQuery, response: { ...redirect, ...errorResponses(503) } },
      },
      async (request, reply) => {
        const { url, transaction } = await oidc.begin(redirectUri(), safeNextPath(request.query.next));
        reply.setCookie(
          oidcCookie.name,
          opts.secrets.encrypt(JSON.stringify(transaction), OIDC_COOKIE_CONTEXT),
          {
            ...oidcCookie.options,
            maxAge: OIDC_TRANSACTION_MS / 1000,
          },
        );
        return reply.redirect(url, 303);
      },
    );

    app.get(
      OIDC_CALLBACK_PATH,
      {
        config: { auth },
        schema: {
          ...page,
          querystring: OidcCallbackQuery,
          response: { ...redirect, ...errorResponses(503) },
        },
      },
      async (request, reply) => {
        const transaction = readTransaction(request.cookies[oidcCookie.name]);
        // One try per transaction, whatever comes of it.
        reply.clearCookie(oidcCookie.name, oidcCookie.options);
        const callbackUrl = new URL(request.url, opts.baseUrl());
        try {
          const accountId = await oidc.complete(callbackUrl, transaction);
          return await signIn(reply, accountId, transaction?.next ?? '/');
        } catch (error) {
          if (!(error instanceof AppError) || error.code !== 'FORBIDDEN') throw error;
          return reply.status(403).page('signin/refused', {
            title: 'Sign-in refused',
            message: error.message,
            retryPath: loginPath(transaction?.next ?? '/'),
          });
        }
      },
    );
  }

  function readTransaction(cookie: string | undefined): OidcTransaction | undefined {
    if (!cookie) return undefined;
    try {
      return JSON.parse(opts.secrets.decrypt(cookie, OIDC_COOKIE_CONTEXT)) as OidcTransaction;
    } catch {
      return undefined;
    }
  }
};
