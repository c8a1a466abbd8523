import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Kysely } from 'kysely';
import type Provider from 'oidc-provider';
import type { AuditActor, AuditLog } from '../audit/audit.service.js';
import { type AppPrincipal, oauthAppPrincipal } from '../auth/principal.js';
import { USER_GRANT_SCOPE_NAMES } from '../auth/scopes.js';
import type { UserGrants } from '../auth/user-grants.port.js';
import type { SecretBox } from '../crypto/secret-box.js';
import { deriveKey } from '../crypto/secret-box.js';
import type { Database } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import { FIELD_LABELS } from '../directory/account.model.js';
import {
  findAccount,
  findGrantClient,
  type GrantClient,
  listInstalledSiteIds,
  listSites,
} from '../directory/directory-read.service.js';
import type { GrantRevocation, GrantRevocationReason } from '../directory/grant-revocation.port.js';
import { fieldsOpenedByGrant } from '../directory/visibility.model.js';
import { AppError } from '../errors/app-error.js';
import type { SignOutFollower } from '../web/sign-out.port.js';
import { describeScope, grantScopes } from './grant.model.js';
import * as repo from './grant.repository.js';
import { GRANT_ROUTES } from './grant-routes.js';
import { adapterFactory } from './provider-adapter.js';
import { browserSession, PROVIDER_COOKIES } from './provider-session.js';
import { loadSigningKeys, rotateSigningKey } from './signing-keys.js';

const TOUCH_INTERVAL_MS = 60_000;
/** Grants revoked per statement (and per audit append) when an app or an account ends them. */
const REVOCATION_BATCH = 500;

type ProviderCallback = (request: IncomingMessage, response: ServerResponse) => Promise<void>;

export interface ScopeView {
  name: string;
  description: string;
  /** Asked for now and not granted before: a re-consent. */
  isNew: boolean;
}

export interface ConsentView {
  uid: string;
  appName: string;
  vendor: string;
  privacyPolicyUrl: string | null;
  scopes: ScopeView[];
  /** Private fields of the person's profile that the grant would open to the app. */
  openedFields: string[];
  /** The person granted this app before: this asks for more. */
  reconsent: boolean;
  /** Where the app gets the answer: the consent form's CSP must allow the redirect there. */
  redirectOrigin: string;
}

export interface ConnectedApp {
  grantId: string;
  appName: string;
  vendor: string;
  privacyPolicyUrl: string | null;
  scopes: { name: string; description: string }[];
  openedFields: string[];
  grantedAt: string;
  lastUsedAt: string | null;
}

export type InteractionStep = { redirect: string } | { consent: ConsentView };

export interface GrantOptions {
  issuer: string;
  masterKey: Buffer;
  accessTokenTtlSeconds: number;
  /**
   * The longest a Custos session lasts (CUSTOS_SESSION_MAX_HOURS): the server's session expires this
   * long after the last request that used it (the library renews it on each); /authorize checks the
   * Custos session every time anyway (authorize()).
   */
  sessionMaxSeconds: number;
  trustProxy: boolean;
  now?: () => Date;
}

/**
 * People's grants to apps (OAuth 2.0 authorization code, "3LO", docs/app-grants.md): the
 * authorization server and what Custos keeps around it — the consent a person gives on
 * Custos's own page, their list of connected apps, removing one, and what a granted token
 * opens on each call (the auth port UserGrants), ending grants when the directory takes away
 * what they rest on (the directory's port GrantRevocation), and ending the server's session
 * with a browser when the person signs out there (the web stack's port SignOutFollower).
 */
export class GrantService implements UserGrants, GrantRevocation, SignOutFollower {
  private server?: Promise<{ provider: Provider; callback: ProviderCallback }>;
  /** Who is signed in to Custos, per request handed to the authorization endpoint (authorize()). */
  private readonly signedIn = new WeakMap<IncomingMessage, string>();

  constructor(
    private readonly database: Database,
    private readonly audit: AuditLog,
    private readonly secrets: SecretBox,
    private readonly options: GrantOptions,
    private readonly now: () => Date = options.now ?? (() => new Date()),
  ) {}

  /**
   * The authorization server, built on first use: operator commands that never serve a
   * request load neither the protocol library nor the signing keys. `serve` builds it
   * before listening (server.ts), so a key that does not decrypt stops it there.
   */
  ready(): Promise<{ provider: Provider; callback: ProviderCallback }> {
    this.server ??= this.build();
    return this.server;
  }

  private async build() {
    const { createAuthorizationServer } = await import('./authorization-server.js');
    const { database, options, now } = this;
    const provider = createAuthorizationServer({
      issuer: options.issuer,
      keys: await loadSigningKeys(database, this.secrets, now()),
      cookieKeys: [deriveKey(options.masterKey, 'oauth-cookies').toString('base64url')],
      adapter: adapterFactory(database, (clientId) => clientMetadata(database, clientId), now),
      isActiveAccount: async (accountId) => (await findAccount(database.db, accountId))?.active === true,
      grantIdOf: async (accountId, clientId) => (await this.existingGrant(accountId, clientId))?.id,
      accessTokenTtlSeconds: options.accessTokenTtlSeconds,
      sessionTtlSeconds: options.sessionMaxSeconds,
      signedInAccount: (request) => this.signedIn.get(request),
      trustProxy: options.trustProxy,
      https: options.issuer.startsWith('https:'),
    });
    return { provider, callback: provider.callback() };
  }

  private async provider(): Promise<Provider> {
    return (await this.ready()).provider;
  }

  /**
   * The authorization endpoint (and its resume) for a browser on which `accountId` is signed in
   * to Custos, or nobody is (docs/app-grants.md#signing-out). The server keeps its own session
   * with the browser; it must never answer for anyone else than the Custos session does. A
   * session of someone else (another person signed in since, or nobody any more: signed out,
   * timed out, ended from another device) is ended before the server sees the request, so it
   * starts afresh and asks for sign-in, which is Custos's page; and its policy checks the same
   * on every request (authorization-server.ts), so no code is issued for another account.
   */
  async authorize(
    request: IncomingMessage,
    response: ServerResponse,
    accountId: string | undefined,
  ): Promise<void> {
    const { provider, callback } = await this.ready();
    const session = await browserSession(provider, request);
    if (session?.accountId !== undefined && session.accountId !== accountId) await session.destroy();
    if (accountId !== undefined) this.signedIn.set(request, accountId);
    await callback(request, response);
  }

  /**
   * Sign-out (SignOutFollower): the server's session with this browser ends, and with
   * `everywhere` every session of the person's on other browsers too, so no authorization
   * request is answered from them. Grants and tokens stay: they belong to the app.
   */
  async signedOut(
    request: IncomingMessage,
    accountId: string | undefined,
    everywhere: boolean,
  ): Promise<string[]> {
    const session = await browserSession(await this.provider(), request);
    if (session) await session.destroy();
    if (everywhere && accountId !== undefined) await repo.deleteAccountSessions(this.database.db, accountId);
    // Only the cookies this browser has: a browser that never met the server gets no Set-Cookie.
    const held = new Set((request.headers.cookie ?? '').split(';').map((pair) => pair.split('=')[0]?.trim()));
    return [PROVIDER_COOKIES.session, `${PROVIDER_COOKIES.session}.sig`].filter((name) => held.has(name));
  }

  /** Hands a request to the authorization server (its endpoints: token, revoke, introspect, JWKS, discovery). */
  async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    await (await this.ready()).callback(request, response);
  }

  /** A token request for the authorization_code or refresh_token grant, its body already parsed. */
  exchange(request: IncomingMessage, response: ServerResponse, body: Record<string, unknown>): Promise<void> {
    // The server reads a parsed body from the request when the stream has been read already.
    Object.assign(request, { body });
    request.headers['content-type'] = 'application/x-www-form-urlencoded';
    return this.handle(request, response);
  }

  /**
   * The app behind a token a person granted, or undefined when it is not one or no longer
   * works: the token, its grant, the client, an installation of the app and the person's
   * open account are all checked on every call.
   */
  async authenticate(token: string): Promise<AppPrincipal | undefined> {
    const accessToken = await (await this.provider()).AccessToken.find(token);
    if (!accessToken || accessToken.isExpired || !accessToken.grantId) return undefined;
    const grant = await (await this.provider()).Grant.find(accessToken.grantId);
    if (
      !grant ||
      grant.isExpired ||
      grant.accountId !== accessToken.accountId ||
      grant.clientId !== accessToken.clientId
    )
      return undefined;
    const client = await findGrantClient(this.database.db, accessToken.clientId);
    if (!client || client.redirectUris.length === 0) return undefined;
    const siteIds = await listInstalledSiteIds(this.database.db, client.appKey);
    if (siteIds.length === 0) return undefined;
    const account = await findAccount(this.database.db, accessToken.accountId);
    if (!account?.active) return undefined;
    const allowed = new Set<string>([...USER_GRANT_SCOPE_NAMES, ...client.scopes]);
    const scopes = (accessToken.scope ?? '').split(' ').filter((s) => allowed.has(s));
    const at = this.now();
    await repo.touchGrant(
      this.database.db,
      grant.jti,
      at.toISOString(),
      new Date(at.getTime() - TOUCH_INTERVAL_MS).toISOString(),
    );
    return oauthAppPrincipal(client, siteIds, scopes, {
      accountId: accessToken.accountId,
      grantId: grant.jti,
    });
  }

  /**
   * The next step of an authorization for the signed-in person: the server's own sign-in step
   * is answered from the Custos session, then the consent page. When the request was started
   * under someone else's session (another person signed in on this browser since), it starts
   * again from the authorization endpoint, which ends that session first (authorize()):
   * signing in over it would have the server ask to end it on a logout page Custos does not
   * have.
   */
  async interaction(
    request: IncomingMessage,
    response: ServerResponse,
    accountId: string,
  ): Promise<InteractionStep> {
    const details = await this.details(request, response);
    const remembered = details.session?.accountId;
    if (remembered !== undefined && remembered !== accountId) {
      await details.destroy();
      return { redirect: authorizationRequest(details.params) };
    }
    if (details.prompt.name === 'login' || remembered === undefined) {
      // remember: false: the server's cookie ends with the browser, as Custos's own does.
      const redirect = await (await this.provider()).interactionResult(
        request,
        response,
        { login: { accountId, remember: false } },
        { mergeWithLastSubmission: false },
      );
      return { redirect };
    }
    const clientId = details.params.client_id ?? '';
    const client = await findGrantClient(this.database.db, clientId);
    const account = await findAccount(this.database.db, accountId);
    if (!client || !account) throw new AppError('NOT_FOUND', 'This authorization request is no longer valid');
    const requested = (details.params.scope ?? '').split(' ').filter((s) => s !== '' && s !== 'openid');
    const existing = await this.existingGrant(accountId, clientId);
    const granted = new Set(existing ? grantScopes(existing.payload) : []);
    const opened = fieldsOpenedByGrant(account, new Set(requested));
    return {
      consent: {
        uid: details.uid,
        appName: client.appName,
        vendor: client.vendor,
        privacyPolicyUrl: client.privacyPolicyUrl,
        scopes: requested.map((name) => ({
          name,
          description: describeScope(name),
          isNew: !granted.has(name),
        })),
        openedFields: opened.map((field) => FIELD_LABELS[field]),
        reconsent: existing !== undefined,
        redirectOrigin: new URL(details.params.redirect_uri ?? '').origin,
      },
    };
  }

  /**
   * The person's answer on the consent page. Allowing adds the requested scopes to their
   * grant to this app (one grant per person and app, so a re-consent widens it), audited;
   * denying sends the app `access_denied`. Returns where the browser goes next.
   */
  async decide(
    request: IncomingMessage,
    response: ServerResponse,
    accountId: string,
    allow: boolean,
  ): Promise<string> {
    const details = await this.details(request, response);
    if (details.session?.accountId !== accountId || details.prompt.name !== 'consent')
      throw new AppError('FORBIDDEN', 'This authorization request belongs to another sign-in');
    if (!allow) {
      return (await this.provider()).interactionResult(
        request,
        response,
        { error: 'access_denied', error_description: 'The person did not allow access' },
        { mergeWithLastSubmission: false },
      );
    }
    const clientId = details.params.client_id ?? '';
    const client = await findGrantClient(this.database.db, clientId);
    if (!client) throw new AppError('NOT_FOUND', 'This app can no longer ask for access');
    const existing = details.grantId ?? (await this.existingGrant(accountId, clientId))?.id;
    const grant =
      (existing && (await (await this.provider()).Grant.find(existing))) ||
      new (await this.provider()).Grant({ accountId, clientId });
    const requested = (details.params.scope ?? '').split(' ').filter(Boolean);
    grant.addOIDCScope(requested.join(' '));
    const grantId = await grant.save();
    await this.audit.append([
      {
        actor: { type: 'account', id: accountId },
        action: 'grant.given',
        appKey: client.appKey,
        accountId,
        details: { grantId, clientId, scopes: requested.join(' ') },
      },
    ]);
    return (await this.provider()).interactionResult(
      request,
      response,
      { consent: { grantId } },
      { mergeWithLastSubmission: true },
    );
  }

  /** The apps the person granted access, with what each can read because of it. */
  async listConnectedApps(accountId: string): Promise<ConnectedApp[]> {
    const rows = await repo.listAccountGrants(this.database.db, accountId, this.now().toISOString());
    const account = await findAccount(this.database.db, accountId);
    const clients = new Map<string, GrantClient | undefined>();
    const apps: ConnectedApp[] = [];
    for (const row of rows) {
      const clientId = row.client_id ?? '';
      if (!clients.has(clientId)) clients.set(clientId, await findGrantClient(this.database.db, clientId));
      const client = clients.get(clientId);
      if (!client) continue;
      const scopes = grantScopes(row.payload);
      const opened = account ? fieldsOpenedByGrant(account, new Set(scopes)) : [];
      apps.push({
        grantId: row.id,
        appName: client.appName,
        vendor: client.vendor,
        privacyPolicyUrl: client.privacyPolicyUrl,
        scopes: scopes.map((name) => ({ name, description: describeScope(name) })),
        openedFields: opened.map((field) => FIELD_LABELS[field]),
        grantedAt: row.created_at,
        lastUsedAt: row.last_used_at,
      });
    }
    return apps;
  }

  /**
   * Removes the person's grant: the grant and every access and refresh token issued under it
   * are deleted in one transaction with the audit entry, so the app's next call is refused.
   * Nothing else changes (their other grants, their sessions). An unknown id, or one of
   * someone else's grants, is 404.
   */
  async removeGrant(accountId: string, grantId: string, actor: AuditActor): Promise<void> {
    const mine = (await repo.listAccountGrants(this.database.db, accountId, this.now().toISOString())).find(
      (row) => row.id === grantId,
    );
    if (!mine) throw new AppError('NOT_FOUND', 'No such connected app', { field: 'grantId' });
    const client = mine.client_id ? await findGrantClient(this.database.db, mine.client_id) : undefined;
    await this.database.writeTransaction(async (trx) => {
      const removed = await repo.deleteGrantRecords(trx, grantId);
      await this.audit.appendWithin(trx, [
        {
          actor,
          action: 'grant.removed',
          appKey: client?.appKey,
          accountId,
          details: { grantId, clientId: mine.client_id, records: removed },
        },
      ]);
    });
  }

  /**
   * The account closed: every grant it gave ends with it, in the closure's transaction
   * (docs/app-grants.md#when-grants-end).
   */
  async revokeAccountGrants(trx: Kysely<DB>, accountId: string, actor: AuditActor): Promise<number> {
    const grants = await repo.listGrantsBy(trx, 'account_id', accountId);
    const appKeys = new Map<string, string | undefined>();
    for (const clientId of new Set(grants.map((g) => g.client_id ?? '')))
      appKeys.set(clientId, (await findGrantClient(trx, clientId))?.appKey);
    return this.revokeWithin(trx, grants, (clientId) => appKeys.get(clientId), 'account-closed', actor);
  }

  /**
   * The app can no longer reach anyone through its grants (uninstalled from its last site, or
   * its OAuth client removed): every grant to the client ends, in that change's transaction.
   */
  async revokeClientGrants(
    trx: Kysely<DB>,
    client: { clientId: string; appKey: string },
    reason: Exclude<GrantRevocationReason, 'account-closed'>,
    actor: AuditActor,
  ): Promise<number> {
    const grants = await repo.listGrantsBy(trx, 'client_id', client.clientId);
    return this.revokeWithin(trx, grants, () => client.appKey, reason, actor);
  }

  /**
   * Deletes each grant with every record issued under it (codes, access and refresh tokens),
   * as removing it from connected apps does, and audits each one: ids and the reason only.
   * In the caller's transaction, a batch of grants per statement: an app that thousands of
   * people connected is uninstalled without a statement per grant.
   */
  private async revokeWithin(
    trx: Kysely<DB>,
    grants: { id: string; account_id: string | null; client_id: string | null }[],
    appKeyOf: (clientId: string) => string | undefined,
    reason: GrantRevocationReason,
    actor: AuditActor,
  ): Promise<number> {
    // Before the first delete: an account's closure takes the lock, then deletes its grants.
    if (grants.length > 0) await this.audit.lockChainWithin(trx);
    for (let start = 0; start < grants.length; start += REVOCATION_BATCH) {
      const batch = grants.slice(start, start + REVOCATION_BATCH);
      const records = await repo.deleteRecordsOfGrants(
        trx,
        batch.map((grant) => grant.id),
      );
      await this.audit.appendWithin(
        trx,
        batch.map((grant) => ({
          actor,
          action: 'grant.revoked',
          appKey: appKeyOf(grant.client_id ?? ''),
          accountId: grant.account_id ?? undefined,
          details: {
            grantId: grant.id,
            clientId: grant.client_id,
            reason,
            records: records.get(grant.id) ?? 0,
          },
        })),
      );
    }
    return grants.length;
  }

  /** The sites a granted token reaches: the sites its app is installed on. */
  async accessibleResources(
    app: AppPrincipal,
  ): Promise<{ id: string; url: string; name: string; scopes: string[] }[]> {
    const sites = await listSites(this.database.db, app.siteIds);
    return sites.map((site) => ({ id: site.id, url: site.url, name: site.id, scopes: [...app.scopes] }));
  }

  /**
   * A new signing key, used from the next start of the server; the previous one stays
   * published for what it signed, older ones are retired. Audited.
   */
  async rotateSigningKey(actor: AuditActor): Promise<{ kid: string; retired: string[] }> {
    const rotated = await rotateSigningKey(this.database, this.secrets, this.now());
    await this.audit.append([
      {
        actor,
        action: 'grant.signing-key-rotated',
        details: { kid: rotated.kid, retired: rotated.retired.join(' ') },
      },
    ]);
    return rotated;
  }

  /** Deletes up to `limit` expired records (codes, tokens, interactions, grants); returns how many. */
  deleteExpired(limit: number): Promise<number> {
    return this.database.writeTransaction((trx) =>
      repo.deleteExpiredRecords(trx, this.now().toISOString(), limit),
    );
  }

  private async details(request: IncomingMessage, response: ServerResponse) {
    try {
      return await (await this.provider()).interactionDetails(request, response);
    } catch {
      throw new AppError(
        'NOT_FOUND',
        'This authorization request has expired: go back to the app and start again',
      );
    }
  }

  private existingGrant(accountId: string, clientId: string) {
    return repo.findAccountGrant(this.database.db, accountId, clientId, this.now().toISOString());
  }
}

/** The authorization request an interaction was started for, to send the browser through again. */
function authorizationRequest(params: Record<string, string | undefined>): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined) query.set(name, value);
  return `${GRANT_ROUTES.authorization}?${query}`;
}

/** The directory's OAuth client as the authorization server's client record; none without redirect URIs. */
async function clientMetadata(database: Database, clientId: string) {
  const client = await findGrantClient(database.db, clientId);
  if (!client || client.redirectUris.length === 0) return undefined;
  return {
    client_id: client.clientId,
    // The scrypt hash: authorization-server.ts checks presented secrets against it.
    client_secret: client.secretHash,
    client_name: client.appName,
    redirect_uris: client.redirectUris,
    scope: [...new Set(['openid', ...USER_GRANT_SCOPE_NAMES, ...client.scopes])].join(' '),
  };
}

export { GRANT_ROUTES };
