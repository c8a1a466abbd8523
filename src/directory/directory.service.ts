import type { Kysely } from 'kysely';
import type { AuditActor, AuditLog } from '../audit/audit.service.js';
import { APP_SCOPE_NAMES, EMAIL_ADDRESS_SCOPE } from '../auth/scopes.js';
import type { SecretBox } from '../crypto/secret-box.js';
import type { Database } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import { AppError } from '../errors/app-error.js';
import type { SessionService } from '../sessions/session.service.js';
import { normalizeEmail } from '../shared/email.js';
import {
  type Account,
  accountFromRow,
  EMPTY_PROFILE,
  type Profile,
  profileColumns,
  VISIBILITY_FIELDS,
  type VisibilityField,
  type VisibilitySettings,
  withChosenVisibilityFields,
} from './account.model.js';
import * as accounts from './account.repository.js';
import type { AccountCopies } from './account-copies.port.js';
import type { AccountEvents } from './account-events.port.js';
import * as apps from './app.repository.js';
import { credentialsChanged } from './credential-changes.js';
import type { EmailApiAllowList } from './email-api-allow-list.port.js';
import type { GrantRevocation } from './grant-revocation.port.js';
import { secretContext } from './secrets.js';

export interface AppDetails {
  key: string;
  name: string;
  vendor: string;
  privacyPolicyUrl: string | null;
  termsUrl: string | null;
  storesPersonalData: boolean;
  /** On the Email API allow list: derived from the access programme, the one truth. */
  emailApiApproved: boolean;
  installations: InstallationDetails[];
  webhookUrl: string | null;
  /** Present only the first time a generated secret is shown; never again. */
  webhookSecret?: string;
  webhookSecretShownAt: string | null;
}

export interface InstallationDetails {
  clientKey: string;
  siteId: string;
  installedAt: string;
  uninstalledAt: string | null;
  /**
   * What the installation may do; shows the Email API scope while the app is approved
   * (docs/wire-contracts.md#approval-and-its-limits).
   */
  scopes: string[];
}

/** Operator actions on the directory (CLI and admin API); each one is audited. */
export class DirectoryService {
  constructor(
    private readonly database: Database,
    private readonly secrets: SecretBox,
    private readonly audit: AuditLog,
    private readonly ports: {
      allowList: EmailApiAllowList;
      accountEvents: AccountEvents;
      grants: GrantRevocation;
      sessions: Pick<SessionService, 'endAllWithin'>;
      copies: AccountCopies;
    },
    /** Called after a commit that wrote webhook messages, so delivery starts at once. */
    private readonly onWebhooks: () => void = () => {},
  ) {}

  async getAccount(accountId: string): Promise<Account> {
    const row = await accounts.findAccountRow(this.database.db, accountId);
    if (!row) throw new AppError('NOT_FOUND', 'No such account', { field: 'accountId' });
    return accountFromRow(row);
  }

  /**
   * The open account an email belongs to, for sign-in by emailed code (which says the same
   * whether or not there is one: the answer never leaves Custos).
   */
  findOpenAccountIdByEmail(email: string): Promise<string | undefined> {
    return accounts.findOpenAccountIdByEmail(this.database.db, normalizeEmail(email));
  }

  /** An admin reads an account's profile: a disclosure of PD to a person, so it is on record. */
  async viewAccount(accountId: string, actor: AuditActor): Promise<Account> {
    const account = await this.getAccount(accountId);
    await this.audit.append([{ actor, action: 'admin.account-viewed', accountId }]);
    return account;
  }

  /**
   * Closes an account: the right to be forgotten. The profile PD is erased at once; the
   * accountId, the closure time and the account.closed event remain, so that apps holding
   * its data can be told to erase it (GDPR art. 17 and 19). Every grant the person gave an
   * app ends in the same transaction (docs/app-grants.md#when-grants-end): no app speaks for
   * a closed account, and every session of the person ends with it. The exports of its access
   * requests and the parts apps uploaded for them are emptied too, so no copy of the erased
   * profile outlives it, whoever closed the account. Closing twice changes nothing.
   */
  async closeAccount(
    accountId: string,
    actor: AuditActor,
  ): Promise<{ closedAt: string; alreadyClosed: boolean }> {
    const result = await this.database.writeTransaction(async (trx) => {
      const row = await accounts.findAccountRow(trx, accountId);
      if (!row) throw new AppError('NOT_FOUND', 'No such account', { field: 'accountId' });
      if (row.status === 'closed') return { closedAt: row.closed_at ?? row.updated_at, alreadyClosed: true };
      const now = new Date().toISOString();
      await accounts.updateAccount(trx, accountId, {
        status: 'closed',
        closed_at: now,
        updated_at: now,
        pd_updated_at: now,
        ...profileColumns(EMPTY_PROFILE),
      });
      await accounts.insertAccountEvent(trx, { account_id: accountId, type: 'account.closed', at: now });
      // GDPR art. 17(2)/19: every app holding the data is told, in this same transaction.
      const told = await this.ports.accountEvents.announceAccountEvent(trx, accountId, 'account.closed', now);
      await this.audit.appendWithin(trx, [
        { actor, action: 'account.closed', accountId, details: { appsNotified: told } },
      ]);
      await this.ports.grants.revokeAccountGrants(trx, accountId, actor);
      // The person is signed out everywhere: a session must not outlive its account (a closed
      // operator's console access included).
      await this.ports.sessions.endAllWithin(trx, accountId);
      await this.ports.copies.clearWithin(trx, accountId, now);
      return { closedAt: now, alreadyClosed: false };
    });
    if (!result.alreadyClosed) this.onWebhooks();
    return result;
  }

  /**
   * A person sets who may see their profile fields: people control the visibility of their
   * own PD (docs/wire-contracts.md#profile-visibility). Effective on the next read, since every surface reads through
   * visibility.model.ts; like an import's change, it is an account.updated that apps holding
   * the account hear of in the same transaction (they may have to drop a field they kept).
   * Returns the fields that changed; saving the same choices changes and tells nothing. A
   * field the person changed is theirs from then on: an import no longer sets it.
   */
  async setVisibility(
    accountId: string,
    changes: Partial<VisibilitySettings>,
    actor: AuditActor,
  ): Promise<VisibilityField[]> {
    const changed = await this.database.writeTransaction(async (trx) => {
      const row = await accounts.findAccountRow(trx, accountId);
      if (!row) throw new AppError('NOT_FOUND', 'No such account', { field: 'accountId' });
      const account = accountFromRow(row);
      if (!account.active) throw new AppError('CONFLICT', 'This account is closed', { field: 'accountId' });
      const next = { ...account.visibility, ...changes };
      const fields = VISIBILITY_FIELDS.filter((f) => next[f] !== account.visibility[f]);
      if (fields.length === 0) return fields;
      const now = new Date().toISOString();
      await accounts.updateAccount(trx, accountId, {
        visibility: JSON.stringify(next),
        // The person's own choice: an import leaves these fields alone from now on.
        visibility_chosen: withChosenVisibilityFields(row.visibility_chosen, fields),
        updated_at: now,
        pd_updated_at: now,
      });
      await accounts.insertAccountEvent(trx, { account_id: accountId, type: 'account.updated', at: now });
      const told = await this.ports.accountEvents.announceAccountEvent(
        trx,
        accountId,
        'account.updated',
        now,
      );
      await this.audit.appendWithin(trx, [
        {
          actor,
          action: 'account.visibility-changed',
          accountId,
          details: { ...Object.fromEntries(fields.map((f) => [f, next[f]])), appsNotified: told },
        },
      ]);
      return fields;
    });
    if (changed.length > 0) this.onWebhooks();
    return changed;
  }

  /**
   * Corrects an account's profile (GDPR art. 16) in the caller's transaction, and tells every
   * app that holds it (art. 19) with `account.updated`. Returns the fields that changed.
   */
  async rectifyWithin(
    trx: Kysely<DB>,
    accountId: string,
    changes: Partial<Omit<Profile, 'organizationId'>>,
    actor: AuditActor,
  ): Promise<string[]> {
    const row = await accounts.findAccountRow(trx, accountId);
    if (!row) throw new AppError('NOT_FOUND', 'No such account', { field: 'accountId' });
    if (row.status === 'closed')
      throw new AppError('CONFLICT', 'The account is closed: nothing is left to correct', {
        field: 'accountId',
      });
    const current = accountFromRow(row).profile;
    // Stored, compared and looked up in one form, as an import stores it.
    const corrected = changes.email ? { ...changes, email: normalizeEmail(changes.email) } : changes;
    const changed = (Object.keys(corrected) as (keyof typeof corrected)[]).filter(
      (k) => corrected[k] !== undefined && corrected[k] !== current[k],
    );
    if (changed.length === 0) return [];
    if (changed.includes('email') && corrected.email) {
      // Two corrections to the same address wait for each other (PostgreSQL), so the second
      // gets this answer rather than the unique index's error.
      await this.database.advisoryLock(trx, `account-email:${corrected.email}`);
      const [holder] = await accounts.findAccountIdsByEmails(trx, [corrected.email]);
      if (holder && holder.account_id !== accountId)
        throw new AppError('CONFLICT', 'changes.email: another account uses this email address', {
          field: 'changes.email',
        });
    }
    const now = new Date().toISOString();
    await accounts.updateAccount(trx, accountId, {
      ...profileColumns({ ...current, ...corrected }),
      updated_at: now,
      pd_updated_at: now,
    });
    await accounts.insertAccountEvent(trx, { account_id: accountId, type: 'account.updated', at: now });
    const told = await this.ports.accountEvents.announceAccountEvent(trx, accountId, 'account.updated', now);
    await this.audit.appendWithin(trx, [
      {
        actor,
        action: 'account.rectified',
        accountId,
        details: { fields: changed.join(','), appsNotified: told },
      },
    ]);
    return changed;
  }

  /**
   * Uninstalling ends the app's access to the site at once: its JWTs and tokens stop reaching
   * it. From its last site, the people's grants to the app end too, in the same transaction
   * (docs/app-grants.md#when-grants-end): installing it again does not bring them back.
   */
  async uninstall(clientKey: string, actor: AuditActor): Promise<void> {
    await this.database.writeTransaction(async (trx) => {
      const installation = await apps.findInstallationByClientKey(trx, clientKey);
      if (!installation) throw new AppError('NOT_FOUND', 'No such installation', { field: 'clientKey' });
      if (installation.uninstalled_at !== null) return;
      const now = new Date().toISOString();
      await apps.updateInstallation(trx, installation.id, { uninstalled_at: now });
      await this.ports.accountEvents.announceLifecycleEvent(
        trx,
        {
          id: installation.id,
          appKey: installation.app_key,
          siteId: installation.site_id,
          clientKey: installation.client_key,
        },
        'app.uninstalled',
        now,
      );
      await this.audit.appendWithin(trx, [
        {
          actor,
          action: 'installation.uninstalled',
          appKey: installation.app_key,
          installationId: installation.id,
        },
      ]);
      const live = (await apps.listInstallationsOf(trx, installation.app_key)).filter(
        (i) => i.uninstalled_at === null,
      );
      if (live.length > 0) return;
      for (const client of await apps.findOAuthClientsOf(trx, [], [installation.app_key]))
        await this.ports.grants.revokeClientGrants(
          trx,
          { clientId: client.client_id, appKey: client.app_key },
          'app-uninstalled',
          actor,
        );
    });
    // Committed: no credential read before now is trusted any more (credential-changes.ts).
    credentialsChanged();
    this.onWebhooks();
  }

  /**
   * An app's settings. A webhook secret Custos generated is revealed once, to `revealTo`
   * (`custos app show`), marked shown and audited; the admin API reveals none (it would
   * travel in a response body that proxies and clients may log).
   */
  async showApp(appKey: string, revealTo?: AuditActor): Promise<AppDetails> {
    return this.database.writeTransaction(async (trx) => {
      const app = await apps.findApp(trx, appKey);
      if (!app) throw new AppError('NOT_FOUND', 'No such app', { field: 'key' });
      const approved = await this.ports.allowList.isApproved(app.key, trx);
      const scopes = approved ? [...APP_SCOPE_NAMES, EMAIL_ADDRESS_SCOPE] : [...APP_SCOPE_NAMES];
      const installations = (await apps.listInstallationsOf(trx, app.key)).map((i) => ({
        clientKey: i.client_key,
        siteId: i.site_id,
        installedAt: i.installed_at,
        uninstalledAt: i.uninstalled_at,
        scopes: i.uninstalled_at === null ? scopes : [],
      }));
      const details: AppDetails = {
        key: app.key,
        name: app.name,
        vendor: app.vendor,
        privacyPolicyUrl: app.privacy_policy_url,
        termsUrl: app.terms_url,
        storesPersonalData: app.stores_personal_data === 1,
        emailApiApproved: approved,
        installations,
        webhookUrl: app.webhook_url,
        webhookSecretShownAt: app.webhook_secret_shown_at,
      };
      if (revealTo && app.webhook_secret_enc && app.webhook_secret_shown_at === null) {
        details.webhookSecret = this.secrets.decrypt(app.webhook_secret_enc, secretContext.webhook(app.key));
        details.webhookSecretShownAt = new Date().toISOString();
        await apps.updateApp(trx, app.key, { webhook_secret_shown_at: details.webhookSecretShownAt });
        await this.audit.appendWithin(trx, [
          { actor: revealTo, action: 'admin.webhook-secret-revealed', appKey: app.key },
        ]);
      }
      return details;
    });
  }
}
