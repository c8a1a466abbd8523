import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { appOf } from '../auth/principal.js';
import { READ_ME_SCOPE, READ_USER_SCOPE } from '../auth/scopes.js';
import { validationError } from '../errors/app-error.js';
import { errorResponses } from '../errors/error.schemas.js';
import {
  BulkEmailQuery,
  BulkUserQuery,
  EmailQuery,
  expandAccountIds,
  MAX_BULK_IDS,
  Me,
  UnrestrictedEmail,
  User,
  UserPage,
  UserQuery,
  UserSearchQuery,
} from './user.schemas.js';
import type { UserService } from './user.service.js';

/**
 * Apps call with a Connect JWT or an OAuth bearer token holding read:user
 * (docs/wire-contracts.md#app-authentication).
 */
const auth = { kind: 'app', scope: READ_USER_SCOPE, via: ['jwt', 'oauth'] } as const;

function accountIdsOf(values: string[]): string[] {
  const ids = expandAccountIds(values);
  if (!ids)
    throw validationError('accountId', `must be at most ${MAX_BULK_IDS} account IDs of 1–128 A-Za-z0-9:-`);
  return ids;
}

const DEFAULT_AVATAR = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 48 48"><rect width="48" height="48" rx="24" fill="#8993a4"/><circle cx="24" cy="19" r="8" fill="#fff"/><path d="M10 40c2-8 8-12 14-12s12 4 14 12" fill="#fff"/></svg>`;

/**
 * User API and Email API (docs/wire-contracts.md#users-and-the-email-api), wire-compatible with the
 * documented Jira Cloud endpoints.
 */
export const userRoutes: FastifyPluginAsyncTypebox<{
  users: UserService;
  /** The base of `self` and default avatar links (never taken from the request). */
  baseUrl: () => string;
}> = async (app, { users, baseUrl }) => {
  app.get(
    '/rest/api/3/user',
    {
      config: { auth },
      schema: {
        tags: ['Users'],
        summary: 'Returns a user',
        description:
          'Only the profile fields the user made public. 404 for an unknown account and for one that is not a member of any site the app is installed on. Closed accounts show as "Former user" with active false.',
        querystring: UserQuery,
        response: { 200: User, ...errorResponses(404) },
      },
    },
    async (request) => users.getUser(appOf(request), request.query.accountId, baseUrl()),
  );

  app.get(
    '/rest/api/3/user/bulk',
    {
      config: { auth },
      schema: {
        tags: ['Users'],
        summary: 'Returns a page of users',
        description:
          'Pass accountId once per user (at most 200). Unknown accounts, and accounts the app may not see, are left out; the page runs over the users found, in request order.',
        querystring: BulkUserQuery,
        response: { 200: UserPage },
      },
    },
    async (request) =>
      users.getUsers(
        appOf(request),
        { ...request.query, accountId: accountIdsOf(request.query.accountId) },
        baseUrl(),
      ),
  );

  app.get(
    '/rest/api/3/user/search',
    {
      config: { auth },
      schema: {
        tags: ['Users'],
        summary:
          'Finds users by exact email or public name (for migrating stored identifiers to account IDs)',
        description:
          'Only members of sites the app is installed on. An email matches only when its owner made it public or the app is approved for the Email API (each such match of a hidden email is audited); a public name matches without regard to case. Exact matches only: no prefixes. An array of users, as the platform answers.',
        querystring: UserSearchQuery,
        response: { 200: Type.Array(User) },
      },
    },
    async (request) => users.searchUsers(appOf(request), request.query, baseUrl()),
  );

  app.get(
    '/rest/api/3/user/email',
    {
      config: { auth },
      schema: {
        tags: ['Email API'],
        summary: "Returns a user's email address regardless of visibility (approved apps only)",
        description:
          'Only for apps approved for the Email API (otherwise 400), and only for members of sites the app is installed on (otherwise 404). Every disclosure is written to the audit log before the answer is sent. The address must never be shown in an app UI or passed to third parties.',
        querystring: EmailQuery,
        response: { 200: UnrestrictedEmail, ...errorResponses(404) },
      },
    },
    async (request) => users.getEmail(appOf(request), request.query.accountId, 'GET /rest/api/3/user/email'),
  );

  app.get(
    '/rest/api/3/user/email/bulk',
    {
      config: { auth },
      schema: {
        tags: ['Email API'],
        summary: 'Returns the email addresses of several users (approved apps only)',
        description:
          'Pass accountId once per user (at most 200). Accounts that are not available to the app, closed, or without an address are left out. Each disclosure is audited before the answer is sent.',
        querystring: BulkEmailQuery,
        response: { 200: Type.Array(UnrestrictedEmail) },
      },
    },
    async (request) =>
      users.getEmails(
        appOf(request),
        accountIdsOf(request.query.accountId),
        'GET /rest/api/3/user/email/bulk',
      ),
  );

  app.get(
    '/me',
    {
      config: { auth: { kind: 'app', scope: READ_ME_SCOPE, via: ['oauth'] } },
      schema: {
        tags: ['Users'],
        summary: 'Returns the person who granted the token',
        description:
          'Only with a token a person granted the app (read:me; docs/app-grants.md). The fields that person made public; with read:account also their own private fields, email included. Reads of private fields are audited.',
        response: { 200: Me },
      },
    },
    async (request) => users.getMe(appOf(request), baseUrl()),
  );

  app.get(
    '/avatars/default.svg',
    {
      config: { auth: { kind: 'public' } },
      schema: {
        tags: ['Users'],
        summary: 'The default avatar, shown for users whose avatar is hidden or unset',
        querystring: Type.Object({ size: Type.Optional(Type.Integer({ minimum: 1, maximum: 512 })) }),
        response: { 200: Type.String({ description: 'An SVG image.' }) },
      },
    },
    async (_request, reply) =>
      reply.type('image/svg+xml').header('cache-control', 'public, max-age=86400').send(DEFAULT_AVATAR),
  );
};
