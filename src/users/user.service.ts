import type { AuditLog } from '../audit/audit.service.js';
import type { AppPrincipal } from '../auth/principal.js';
import type { Database } from '../db/dialect.js';
import type { Account } from '../directory/account.model.js';
import { listDisclosureInstallations, listMemberAccounts } from '../directory/directory-read.service.js';
import type { EmailApiAllowList } from '../directory/email-api-allow-list.port.js';
import type { Viewer } from '../directory/visibility.model.js';
import { AppError } from '../errors/app-error.js';
import { type AccountRestrictions, NO_RESTRICTIONS } from './account-restrictions.port.js';
import { toUser } from './user.mapper.js';
import type { BulkUserQuery, UnrestrictedEmail, User, UserPage } from './user.schemas.js';

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
    private readonly restrictions: AccountRestrictions = NO_RESTRICTIONS,
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
