import type { AuditLog } from '../audit/audit.service.js';
import type { AppPrincipal } from '../auth/principal.js';
import type { Database } from '../db/dialect.js';
import type { Account } from '../directory/account.model.js';
import {
  findAccount,
  listDisclosureInstallations,
  listMemberAccounts,
  listMemberAccountsMatching,
} from '../directory/directory-read.service.js';
import type { EmailApiAllowList } from '../directory/email-api-allow-list.port.js';
import { fieldsOpenedByGrant, type Viewer, visibleProfile } from '../directory/visibility.model.js';
import { AppError } from '../errors/app-error.js';
import { type AccountRestrictions, NO_RESTRICTIONS } from './account-restrictions.port.js';
import { toMe, toUser } from './user.mapper.js';
import {
  type BulkUserQuery,
  MAX_SEARCH_RESULTS,
  MAX_START_AT,
  type Me,
  type UnrestrictedEmail,
  type User,
  type UserPage,
  type UserSearchQuery,
} from './user.schemas.js';

/**
 * Whatever the JWT's `sub` says, an app is an app: impersonation widens nothing
 * (docs/wire-contracts.md#profile-visibility). A token a person granted the app adds that
 * grant, which opens that person's own fields and no one else's.
 */
type AppViewer = Extract<Viewer, { kind: 'app' }>;

function viewerOf(app: AppPrincipal): AppViewer {
  return app.grant
    ? { kind: 'app', grant: { accountId: app.grant.accountId, scopes: app.scopes } }
    : { kind: 'app' };
}

const notFound = () => new AppError('NOT_FOUND', 'No such user', { field: 'accountId' });

/**
 * The user and Email APIs for apps (docs/wire-contracts.md#users-and-the-email-api). An app only
 * ever learns about accounts that are members of a site it is installed on; any other id answers
 * exactly as an unknown one does (404, or left out of a bulk answer), so an app cannot even probe
 * for existence.
 */
export class UserService {
  constructor(
    private readonly database: Database,
    private readonly audit: AuditLog,
    private readonly allowList: EmailApiAllowList,
    private readonly restrictions: AccountRestrictions = NO_RESTRICTIONS,
  ) {}

  private async visibleAccounts(app: AppPrincipal, accountIds: string[]): Promise<Map<string, Account>> {
    const accounts = await listMemberAccounts(this.database.db, accountIds, app.siteIds);
    return new Map(accounts.map((account) => [account.accountId, account]));
  }

  async getUser(app: AppPrincipal, accountId: string, baseUrl: string): Promise<User> {
    const account = (await this.visibleAccounts(app, [accountId])).get(accountId);
    if (!account) throw notFound();
    const viewer = await this.viewerFor(app);
    await this.recordGrantDisclosure(app, viewer, [account], 'GET /rest/api/3/user');
    return toUser(account, viewer, baseUrl);
  }

  /** The person who granted the token (docs/app-grants.md#get-me); 403 for any other token. */
  async getMe(app: AppPrincipal, baseUrl: string): Promise<Me> {
    if (!app.grant) throw new AppError('FORBIDDEN', 'GET /me needs a token a person granted the app');
    const account = await findAccount(this.database.db, app.grant.accountId);
    // Authentication checked the account is open; closed meanwhile, the grant ended with it.
    if (!account?.active) throw new AppError('UNAUTHENTICATED', 'The grant has ended');
    const viewer = await this.viewerFor(app);
    // GDPR art. 18: while the person's processing is restricted, the grant reads nothing.
    if (!viewer.grant)
      throw new AppError('FORBIDDEN', "The person's data is restricted: the grant reads nothing now");
    await this.recordGrantDisclosure(app, viewer, [account], 'GET /me');
    return toMe(account, viewer, baseUrl);
  }

  /** Unknown and invisible ids are left out; the page runs over the found users in request order. */
  async getUsers(app: AppPrincipal, query: BulkUserQuery, baseUrl: string): Promise<UserPage> {
    const ids = [...new Set(query.accountId)];
    const found = await this.visibleAccounts(app, ids);
    const accounts = ids.flatMap((id) => found.get(id) ?? []);
    const page = accounts.slice(query.startAt, query.startAt + query.maxResults);
    const viewer = await this.viewerFor(app);
    await this.recordGrantDisclosure(app, viewer, page, 'GET /rest/api/3/user/bulk');
    const values = page.map((account) => toUser(account, viewer, baseUrl));
    return {
      startAt: query.startAt,
      maxResults: query.maxResults,
      total: accounts.length,
      isLast: query.startAt + query.maxResults >= accounts.length,
      values,
    };
  }

  /**
   * The user search for apps migrating stored emails and usernames to account ids: exact
   * matches only, among members of the app's sites. A match by email counts only where the
   * app may know that email: it is public, or the app is approved for the Email API, and then
   * each such match is audited before the answer (the app learns whose address it holds).
   */
  async searchUsers(app: AppPrincipal, query: UserSearchQuery, baseUrl: string): Promise<User[]> {
    if (query.query === undefined && query.accountId === undefined)
      throw new AppError('VALIDATION_FAILED', 'query: one of query or accountId is required', {
        field: 'query',
      });
    const end = query.startAt + query.maxResults;
    // The schema bounds both; whoever calls without it still never hands the engines a LIMIT
    // they cannot hold (SQLite's is a 64-bit integer, PostgreSQL's a bigint). A page past
    // the bound is empty either way.
    const limit = Math.min(end, MAX_START_AT + MAX_SEARCH_RESULTS);
    const viewer = await this.viewerFor(app);
    const found: Account[] = [];
    const byHiddenEmail: Account[] = [];
    if (query.accountId !== undefined) {
      found.push(...(await this.visibleAccounts(app, [query.accountId])).values());
    } else if (query.query !== undefined) {
      const matches = await listMemberAccountsMatching(this.database.db, query.query, app.siteIds, limit);
      let approved: boolean | undefined;
      for (const { account, byEmail, byName } of matches) {
        if (byName || (byEmail && visibleProfile(account, viewer).email !== undefined)) {
          found.push(account);
        } else if (byEmail) {
          approved ??= await this.allowList.isApproved(app.appKey);
          if (!approved) continue;
          found.push(account);
          byHiddenEmail.push(account);
        }
      }
    }
    const page = found.slice(query.startAt, end);
    const audited = byHiddenEmail.filter((account) => page.includes(account));
    if (audited.length > 0) {
      await this.audit.append(
        audited.map((account) => ({
          actor: { type: 'app', id: app.appKey },
          action: 'user.found-by-hidden-email',
          appKey: app.appKey,
          ...(app.installationId ? { installationId: app.installationId } : {}),
          accountId: account.accountId,
          details: {
            endpoint: 'GET /rest/api/3/user/search',
            via: app.via,
            ...(app.oauthClientId ? { oauthClientId: app.oauthClientId } : {}),
          },
        })),
      );
    }
    await this.recordGrantDisclosure(app, viewer, page, 'GET /rest/api/3/user/search');
    return page.map((account) => toUser(account, viewer, baseUrl));
  }

  async getEmail(app: AppPrincipal, accountId: string, endpoint: string): Promise<UnrestrictedEmail> {
    const [disclosed] = await this.disclose(app, [accountId], endpoint);
    if (!disclosed) throw notFound();
    if ('restricted' in disclosed)
      throw new AppError('FORBIDDEN', 'Processing of this account is restricted', { field: 'accountId' });
    return disclosed;
  }

  async getEmails(app: AppPrincipal, accountIds: string[], endpoint: string): Promise<UnrestrictedEmail[]> {
    const answered = await this.disclose(app, [...new Set(accountIds)], endpoint);
    return answered.filter((d): d is UnrestrictedEmail => !('restricted' in d));
  }

  /**
   * A read of private fields through a person's grant is on record like an Email API
   * disclosure: which app, whose account, which fields, through which grant; committed
   * before the answer is sent.
   */
  /**
   * Who the app is for visibility: with a person's grant, that grant, unless the person's
   * processing is restricted (GDPR art. 18): then the grant opens nothing until it is lifted.
   */
  private async viewerFor(app: AppPrincipal): Promise<AppViewer> {
    if (!app.grant) return { kind: 'app' };
    const restricted = await this.restrictions.listRestricted([app.grant.accountId]);
    return restricted.size > 0 ? { kind: 'app' } : viewerOf(app);
  }

  private async recordGrantDisclosure(
    app: AppPrincipal,
    viewer: AppViewer,
    accounts: Account[],
    endpoint: string,
  ) {
    const grant = app.grant;
    if (!grant || !viewer.grant) return;
    const granter = accounts.find((account) => account.accountId === grant.accountId);
    const fields = granter ? fieldsOpenedByGrant(granter, app.scopes) : [];
    if (fields.length === 0) return;
    await this.audit.append([
      {
        actor: { type: 'app', id: app.appKey },
        action: 'profile.disclosed',
        appKey: app.appKey,
        accountId: grant.accountId,
        details: {
          endpoint,
          via: 'grant',
          grantId: grant.grantId,
          fields: fields.join(' '),
          ...(app.oauthClientId ? { oauthClientId: app.oauthClientId } : {}),
        },
      },
    ]);
  }

  /**
   * An approved app sees the email of every member of the sites it is installed on, regardless of
   * visibility (docs/wire-contracts.md#email-api), and every disclosure is on record. The audit
   * entries are committed before the emails are returned: no record, no disclosure.
   */
  private async disclose(
    app: AppPrincipal,
    accountIds: string[],
    endpoint: string,
  ): Promise<(UnrestrictedEmail | { accountId: string; restricted: true })[]> {
    // Checked now, not at authentication: a token issued before a revocation must not outlive it.
    if (!(await this.allowList.isApproved(app.appKey)))
      throw new AppError('EMAIL_API_NOT_APPROVED', 'This app is not approved for the Email API');
    const found = await this.visibleAccounts(app, accountIds);
    // GDPR art. 18: a restricted account's data is not processed, so not disclosed
    // (docs/legal-rules.md#art-15-to-18-and-20-access-rectification-erasure-restriction-portability). Refused before anything is recorded.
    const restricted = await this.restrictions.listRestricted([...found.keys()]);
    if (restricted.size > 0) {
      const refused = [...restricted].map((accountId) => ({ accountId, restricted: true as const }));
      for (const id of restricted) found.delete(id);
      const rest = await this.discloseFound(app, accountIds, found, endpoint);
      return [...refused, ...rest];
    }
    return this.discloseFound(app, accountIds, found, endpoint);
  }

  private async discloseFound(
    app: AppPrincipal,
    accountIds: string[],
    found: Map<string, Account>,
    endpoint: string,
  ): Promise<UnrestrictedEmail[]> {
    const disclosed = accountIds.flatMap((id) => {
      const account = found.get(id);
      return account?.active && account.profile.email
        ? [{ accountId: id, email: account.profile.email }]
        : [];
    });
    if (disclosed.length === 0) return disclosed;
    const via = new Map<string, string>();
    const ids = disclosed.map((d) => d.accountId);
    for (const i of await listDisclosureInstallations(this.database.db, app.appKey, ids, app.siteIds)) {
      if (!via.has(i.accountId)) via.set(i.accountId, i.installationId);
    }
    await this.audit.append(
      disclosed.map(({ accountId }) => ({
        actor: { type: 'app', id: app.appKey },
        action: 'email.disclosed',
        appKey: app.appKey,
        installationId: app.installationId ?? via.get(accountId),
        accountId,
        details: {
          endpoint,
          via: app.via,
          ...(app.oauthClientId ? { oauthClientId: app.oauthClientId } : {}),
          ...(app.actingAccountId ? { actingAccountId: app.actingAccountId } : {}),
        },
      })),
    );
    return disclosed;
  }
}
