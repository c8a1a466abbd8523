import type { AuditLog } from '../audit/audit.service.js';
import type { AppPrincipal } from '../auth/principal.js';
import type { Database } from '../db/dialect.js';
import type { Account } from '../directory/account.model.js';
import {
  listDisclosureInstallations,
  listMemberAccounts,
  listMemberAccountsMatching,
} from '../directory/directory-read.service.js';
import type { EmailApiAllowList } from '../directory/email-api-allow-list.port.js';
import { type Viewer, visibleProfile } from '../directory/visibility.model.js';
import { AppError } from '../errors/app-error.js';
import { toUser } from './user.mapper.js';
import type { BulkUserQuery, UnrestrictedEmail, User, UserPage, UserSearchQuery } from './user.schemas.js';

/**
 * Whatever the JWT's `sub` says, an app is an app: impersonation widens nothing
 * (docs/wire-contracts.md#profile-visibility).
 */
const APP_VIEWER: Viewer = { kind: 'app' };

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
  ) {}

  private async visibleAccounts(app: AppPrincipal, accountIds: string[]): Promise<Map<string, Account>> {
    const accounts = await listMemberAccounts(this.database.db, accountIds, app.siteIds);
    return new Map(accounts.map((account) => [account.accountId, account]));
  }

  async getUser(app: AppPrincipal, accountId: string, baseUrl: string): Promise<User> {
    const account = (await this.visibleAccounts(app, [accountId])).get(accountId);
    if (!account) throw notFound();
    return toUser(account, APP_VIEWER, baseUrl);
  }

  /** Unknown and invisible ids are left out; the page runs over the found users in request order. */
  async getUsers(app: AppPrincipal, query: BulkUserQuery, baseUrl: string): Promise<UserPage> {
    const ids = [...new Set(query.accountId)];
    const found = await this.visibleAccounts(app, ids);
    const accounts = ids.flatMap((id) => found.get(id) ?? []);
    const values = accounts
      .slice(query.startAt, query.startAt + query.maxResults)
      .map((account) => toUser(account, APP_VIEWER, baseUrl));
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
    const limit = query.startAt + query.maxResults;
    const found: Account[] = [];
    const byHiddenEmail: Account[] = [];
    if (query.accountId !== undefined) {
      found.push(...(await this.visibleAccounts(app, [query.accountId])).values());
    } else if (query.query !== undefined) {
      const matches = await listMemberAccountsMatching(this.database.db, query.query, app.siteIds, limit);
      let approved: boolean | undefined;
      for (const { account, byEmail, byName } of matches) {
        if (byName || (byEmail && visibleProfile(account, APP_VIEWER).email !== undefined)) {
          found.push(account);
        } else if (byEmail) {
          approved ??= await this.allowList.isApproved(app.appKey);
          if (!approved) continue;
          found.push(account);
          byHiddenEmail.push(account);
        }
      }
    }
    const page = found.slice(query.startAt, limit);
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
    return page.map((account) => toUser(account, APP_VIEWER, baseUrl));
  }

  async getEmail(app: AppPrincipal, accountId: string, endpoint: string): Promise<UnrestrictedEmail> {
    const [disclosed] = await this.disclose(app, [accountId], endpoint);
    if (!disclosed) throw notFound();
    return disclosed;
  }

  getEmails(app: AppPrincipal, accountIds: string[], endpoint: string): Promise<UnrestrictedEmail[]> {
    return this.disclose(app, [...new Set(accountIds)], endpoint);
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
  ): Promise<UnrestrictedEmail[]> {
    // Checked now, not at authentication: a token issued before a revocation must not outlive it.
    if (!(await this.allowList.isApproved(app.appKey)))
      throw new AppError('EMAIL_API_NOT_APPROVED', 'This app is not approved for the Email API');
    const found = await this.visibleAccounts(app, accountIds);
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
