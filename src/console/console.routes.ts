import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AccessProgramme } from '../access/access.service.js';
import type { ApiClientService } from '../api-clients/api-client.service.js';
import { auditActorOf } from '../audit/audit.service.js';
import type { Permission } from '../auth/permissions.js';
import { operatorOf } from '../auth/principal.js';
import { API_CLIENT_SCOPE_NAMES, API_CLIENT_SCOPES } from '../auth/scopes.js';
import type { NoticeRegistry } from '../consent/notice.service.js';
import type { AppWebhookService } from '../directory/app-webhook.service.js';
import type { DirectoryService } from '../directory/directory.service.js';
import { AppError } from '../errors/app-error.js';
import { isValidAccountId } from '../shared/account-id.js';
import type { WebhookOutbox } from '../webhooks/webhook-outbox.service.js';
import {
  AccountLookupQuery,
  AccountParams,
  AppParams,
  AppQuery,
  AuditQuery,
  CloseForm,
  DONE_MESSAGES,
  type DoneMessage,
  DoneQuery,
  MessageParams,
  NoticeForm,
  ReasonForm,
  RequestParams,
  ReviewQuery,
  TokenForm,
  TokenParams,
} from './console.schemas.js';
import type { ConsoleService } from './console.service.js';

export interface ConsoleRouteOptions {
  console: ConsoleService;
  access: AccessProgramme;
  directory: DirectoryService;
  apiClients: ApiClientService;
  notices: NoticeRegistry;
  outbox: WebhookOutbox;
  appWebhooks: AppWebhookService;
}

/** The console's sections, in the order of its navigation (web/views/console/_nav.eta). */
export type Section = 'home' | 'access' | 'apps' | 'accounts' | 'audit' | 'notices' | 'clients';

const operator = (permission: Permission) => ({ auth: { kind: 'operator', permission } as const });

/** Pages are not part of the JSON API: kept out of the OpenAPI document. */
const page = { hide: true } as const;

/** What every console page gets besides its own data: who is signed in and what they may do. */
function render(
  request: FastifyRequest,
  reply: FastifyReply,
  view: string,
  section: Section,
  title: string,
  data: Record<string, unknown> = {},
  done?: DoneMessage,
) {
  const who = operatorOf(request);
  return reply.page(`console/${view}`, {
    ...data,
    title,
    section,
    operatorId: who.accountId,
    may: Object.fromEntries([...who.permissions].map((p) => [p, true])),
    done: done === undefined ? undefined : DONE_MESSAGES[done],
    fmt: FORMAT,
  });
}

/** How pages print stored values for people. */
const FORMAT = {
  /** ISO 8601 UTC as stored → `2026-12-01 17:02 UTC`; '' for none. */
  time: (iso: string | null | undefined) => (iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : ''),
  /** To the second, for the audit log. */
  seconds: (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`,
  /** An audit entry's details (canonical JSON of ids and flags) → `key: value · key: value`. */
  details: (json: string) => {
    try {
      return Object.entries(JSON.parse(json) as Record<string, unknown>)
        .map(([k, v]) => `${k}: ${v === null ? '–' : String(v)}`)
        .join(' · ');
    } catch {
      return json;
    }
  },
};

/** After a form post: back to a page that says what happened (post/redirect/get). */
const back = (reply: FastifyReply, path: string, done: DoneMessage) =>
  reply.redirect(`${path}${path.includes('?') ? '&' : '?'}done=${done}`, 303);

const optional = (value: string | undefined) =>
  value === undefined || value.trim() === '' ? undefined : value.trim();

/** A time typed in a form (`datetime-local` gives no zone: read as UTC), as stored: ISO 8601 UTC. */
function formTime(value: string | undefined, field: string): string | undefined {
  const text = optional(value);
  if (text === undefined) return undefined;
  const withZone = /[zZ]|[+-]\d\d:\d\d$/.test(text) ? text : `${text}Z`;
  const ms = Date.parse(withZone);
  if (Number.isNaN(ms))
    throw new AppError('VALIDATION_FAILED', `${field}: must be a date and time, e.g. 2026-12-01T09:00`, {
      field,
    });
  return new Date(ms).toISOString();
}

/**
 * The operator's console at /console: server-rendered pages over the same services as the
 * admin API and the CLI. Every page and every action declares the permission it needs
 * (src/auth/permissions.ts), checked on the server; every action is audited by the service it
 * calls, with the signed-in operator's accountId as the actor. Forms post and redirect, so
 * the console works without JavaScript; htmx only narrows some updates to part of a page.
 */
export const consoleRoutes: FastifyPluginAsyncTypebox<ConsoleRouteOptions> = async (app, opts) => {
  const { console: view } = opts;

  app.get('/console', { config: operator('read'), schema: page }, async (request, reply) =>
    render(request, reply, 'home', 'home', 'Console', { counts: await view.home() }),
  );

  // Email API access review.
  app.get(
    '/console/access',
    { config: operator('read'), schema: { ...page, querystring: ReviewQuery } },
    async (request, reply) => {
      const { after, before, done } = request.query;
      const [queue, history, granted] = await Promise.all([
        view.reviewQueue(after === undefined ? 0 : Number(after)),
        view.decided(before === undefined ? undefined : Number(before)),
        view.grantedApps(),
      ]);
      return render(
        request,
        reply,
        'access',
        'access',
        'Access review',
        { queue, history, granted, slaHours: view.reviewSlaHours },
        done,
      );
    },
  );

  for (const [action, to] of [
    ['approve', 'approved'],
    ['reject', 'rejected'],
  ] as const) {
    app.post(
      `/console/access/requests/:id/${action}`,
      { config: operator('access:decide'), schema: { ...page, params: RequestParams, body: ReasonForm } },
      async (request, reply) => {
        await opts.access.decide(
          request.params.id,
          to,
          request.body.reason.trim(),
          auditActorOf(request.principal),
        );
        return back(reply, '/console/access', to);
      },
    );
  }

  app.post(
    '/console/access/apps/:appKey/revoke',
    { config: operator('access:decide'), schema: { ...page, params: AppParams, body: ReasonForm } },
    async (request, reply) => {
      await opts.access.revoke(
        request.params.appKey,
        request.body.reason.trim(),
        auditActorOf(request.principal),
      );
      return back(reply, '/console/access', 'revoked');
    },
  );

  // Apps and compliance.
  app.get('/console/apps', { config: operator('read'), schema: page }, async (request, reply) =>
    render(request, reply, 'apps', 'apps', 'Apps and compliance', { apps: await view.apps() }),
  );

  app.get(
    '/console/apps/:appKey',
    { config: operator('read'), schema: { ...page, params: AppParams, querystring: AppQuery } },
    async (request, reply) => {
      const detail = await view.app(request.params.appKey, optional(request.query.after));
      return render(request, reply, 'app', 'apps', detail.details.name, { app: detail }, request.query.done);
    },
  );

  const appPath = (appKey: string) => `/console/apps/${encodeURIComponent(appKey)}`;

  app.post(
    '/console/apps/:appKey/messages/:id/redeliver',
    { config: operator('apps:manage'), schema: { ...page, params: MessageParams } },
    async (request, reply) => {
      await opts.outbox.redeliverMessage(request.params.id, auditActorOf(request.principal));
      return back(reply, appPath(request.params.appKey), 'redelivered');
    },
  );

  app.post(
    '/console/apps/:appKey/webhook/enable',
    { config: operator('apps:manage'), schema: { ...page, params: AppParams } },
    async (request, reply) => {
      await opts.appWebhooks.enable(request.params.appKey, auditActorOf(request.principal));
      return back(reply, appPath(request.params.appKey), 'enabled');
    },
  );

  // The new secret is shown once, in this answer: never in a URL, never again.
  app.post(
    '/console/apps/:appKey/webhook/rotate',
    { config: operator('apps:manage'), schema: { ...page, params: AppParams } },
    async (request, reply) => {
      const rotated = await opts.appWebhooks.rotateSecret(
        request.params.appKey,
        auditActorOf(request.principal),
      );
      const detail = await view.app(request.params.appKey, undefined);
      return render(request, reply, 'app', 'apps', detail.details.name, { app: detail, rotated });
    },
  );

  // Accounts: looked up one at a time by accountId, never listed.
  app.get(
    '/console/accounts',
    { config: operator('accounts:read'), schema: { ...page, querystring: AccountLookupQuery } },
    async (request, reply) => {
      const id = optional(request.query.accountId);
      if (id !== undefined && isValidAccountId(id))
        return reply.redirect(`/console/accounts/${encodeURIComponent(id)}`, 303);
      return render(request, reply, 'accounts', 'accounts', 'Accounts', {
        error: id === undefined ? undefined : 'An accountId is 1–128 characters of A-Z a-z 0-9 - :',
        accountId: id ?? '',
      });
    },
  );

  app.get(
    '/console/accounts/:accountId',
    { config: operator('accounts:read'), schema: { ...page, params: AccountParams, querystring: DoneQuery } },
    async (request, reply) => {
      const detail = await view.account(request.params.accountId, auditActorOf(request.principal));
      return render(
        request,
        reply,
        'account',
        'accounts',
        `Account ${detail.account.accountId}`,
        detail,
        request.query.done,
      );
    },
  );

  app.post(
    '/console/accounts/:accountId/close',
    { config: operator('accounts:close'), schema: { ...page, params: AccountParams, body: CloseForm } },
    async (request, reply) => {
      const { accountId } = request.params;
      // The confirmation: the operator types the accountId they mean to close.
      if (request.body.confirm.trim() !== accountId)
        throw new AppError('VALIDATION_FAILED', 'confirm: type the accountId to close the account', {
          field: 'confirm',
        });
      await opts.directory.closeAccount(accountId, auditActorOf(request.principal));
      return back(reply, `/console/accounts/${encodeURIComponent(accountId)}`, 'closed');
    },
  );

  // Audit log.
  app.get(
    '/console/audit',
    { config: operator('audit:read'), schema: { ...page, querystring: AuditQuery } },
    async (request, reply) => {
      const q = request.query;
      const filter = {
        app: optional(q.app),
        account: optional(q.account),
        action: optional(q.action),
        from: optional(q.from),
        to: optional(q.to),
      };
      const result = await view.auditEntries({
        appKey: filter.app,
        accountId: filter.account,
        action: filter.action,
        from: formTime(q.from, 'from'),
        to: formTime(q.to, 'to'),
        beforeId: q.before === undefined ? undefined : Number(q.before),
      });
      const params = new URLSearchParams(
        Object.entries(filter).filter((e): e is [string, string] => e[1] !== undefined),
      );
      return render(request, reply, 'audit', 'audit', 'Audit log', {
        filter,
        result,
        query: params.toString(),
      });
    },
  );

  app.post(
    '/console/audit/verify',
    { config: operator('audit:read'), schema: page },
    async (request, reply) => {
      const verification = await view.verifyAudit();
      const result = await view.auditEntries({});
      return render(request, reply, 'audit', 'audit', 'Audit log', {
        filter: {},
        result,
        query: '',
        verification,
      });
    },
  );

  // API clients and tokens.
  const clientsPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    extra: Record<string, unknown>,
  ) => {
    const [clients, tokens] = await Promise.all([
      opts.apiClients.listClients(),
      opts.apiClients.listTokens(),
    ]);
    const scopes = API_CLIENT_SCOPE_NAMES.map((name) => ({ name, description: API_CLIENT_SCOPES[name] }));
    return render(request, reply, 'clients', 'clients', 'API clients and tokens', {
      clients,
      tokens: tokens.filter((t) => t.revokedAt === null),
      scopes,
      ...extra,
    });
  };

  app.get(
    '/console/clients',
    { config: operator('read'), schema: { ...page, querystring: DoneQuery } },
    async (request, reply) =>
      clientsPage(request, reply, { done: request.query.done && DONE_MESSAGES[request.query.done] }),
  );

  // The token is shown once, in this answer (only its hash is stored).
  app.post(
    '/console/clients/tokens',
    { config: operator('tokens:manage'), schema: { ...page, body: TokenForm } },
    async (request, reply) => {
      const { email, label, scopes } = request.body;
      const created = await opts.apiClients.createToken(
        { email, label: optional(label), scopes: [scopes].flat() },
        auditActorOf(request.principal),
      );
      return clientsPage(request, reply, { created });
    },
  );

  app.post(
    '/console/clients/tokens/:tokenId/revoke',
    { config: operator('tokens:manage'), schema: { ...page, params: TokenParams } },
    async (request, reply) => {
      await opts.apiClients.revokeToken(request.params.tokenId, auditActorOf(request.principal));
      return back(reply, '/console/clients', 'token-revoked');
    },
  );

  // Consent notices.
  app.get(
    '/console/notices',
    { config: operator('read'), schema: { ...page, querystring: DoneQuery } },
    async (request, reply) =>
      render(
        request,
        reply,
        'notices',
        'notices',
        'Consent notices',
        { notices: await opts.notices.list() },
        request.query.done,
      ),
  );

  app.post(
    '/console/notices',
    { config: operator('notices:manage'), schema: { ...page, body: NoticeForm } },
    async (request, reply) => {
      const { key, version, text, effectiveAt } = request.body;
      await opts.notices.add(
        { key: key.trim(), version: version.trim(), text, effectiveAt: formTime(effectiveAt, 'effectiveAt') },
        auditActorOf(request.principal),
      );
      return back(reply, '/console/notices', 'notice-added');
    },
  );
};
