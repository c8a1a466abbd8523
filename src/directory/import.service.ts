import { randomBytes, randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { AuditActor, AuditLog } from '../audit/audit.service.js';
import { normalizeEmail } from '../auth/api-token.service.js';
import { hashSecret, verifySecret } from '../crypto/password-hash.js';
import type { SecretBox } from '../crypto/secret-box.js';
import { type Database, isUniqueViolation } from '../db/dialect.js';
import type { AccountTable, AppTable, DB } from '../db/schema.js';
import { AppError } from '../errors/app-error.js';
import { announceAccountEvent, announceLifecycleEvent } from '../reporting/account-events.js';
import { assertRegistrableUrl } from '../webhooks/webhook-url.js';
import { type Profile, profileColumns, withDefaultVisibility } from './account.model.js';
import * as accounts from './account.repository.js';
import * as apps from './app.repository.js';
import type { ImportAccount, ImportApp, ImportFile, ImportKind, ImportSummary } from './import.schemas.js';
import { checkReferences, checkShape, inBatches } from './import.validate.js';
import { secretContext } from './secrets.js';
import * as sites from './site.repository.js';

type Outcome = 'created' | 'updated' | 'unchanged';

/** Transactions an import may start when concurrent imports keep claiming the same values. */
const IMPORT_ATTEMPTS = 3;

function emptySummary(): ImportSummary {
  const counts = () => ({ created: 0, updated: 0, unchanged: 0 });
  return {
    organizations: counts(),
    accounts: counts(),
    sites: counts(),
    apps: counts(),
    installations: counts(),
  };
}

function profileOf(a: ImportAccount): Profile {
  return {
    email: a.email ? normalizeEmail(a.email) : null,
    name: a.name ?? null,
    nickname: a.nickname ?? null,
    avatarUrl: a.avatarUrl ?? null,
    jobTitle: a.jobTitle ?? null,
    department: a.department ?? null,
    organizationId: a.organization ?? null,
    location: a.location ?? null,
    timeZone: a.timeZone ?? null,
    locale: a.locale ?? null,
  };
}

/**
 * `custos import` and the admin import endpoint: an idempotent upsert of directory data.
 * Each record is the whole truth about its object (omitted profile fields are cleared,
 * omitted visibility entries take the defaults, omitted members/webhook/oauth are removed);
 * objects absent from the file are left alone. The whole file is validated first and
 * written in one transaction, so an invalid record means nothing is written.
 */
export class DirectoryImporter {
  constructor(
    private readonly database: Database,
    private readonly secrets: SecretBox,
    private readonly audit: AuditLog,
    private readonly options: { allowPrivateWebhooks?: boolean; onWebhooks?: () => void } = {},
  ) {}

  async importDirectory(input: unknown, actor: AuditActor): Promise<ImportSummary> {
    const file = checkShape(input);
    // SSRF (OWASP API7): a vendor's webhook URL must not point into the operator's network.
    for (const [i, app] of (file.apps ?? []).entries())
      if (app.webhook)
        await assertRegistrableUrl(
          app.webhook.url,
          this.options.allowPrivateWebhooks ?? false,
          `apps[${i}].webhook.url`,
        );
    // Hash OAuth secrets before taking the write lock: scrypt is slow on purpose.
    const hashes = new Map<string, string>();
    for (const app of file.apps ?? [])
      if (app.oauth) hashes.set(app.key, await hashSecret(app.oauth.clientSecret));
    const summary = await this.writeRechecking(async (trx) => {
      await checkReferences(trx, file);
      const now = new Date().toISOString();
      const summary = emptySummary();
      const count = (kind: ImportKind, outcome: Outcome) => {
        summary[kind][outcome] += 1;
      };
      for (const org of file.organizations ?? [])
        count('organizations', await this.upsertOrganization(trx, org, now));
      const stored = await this.loadAccounts(trx, file.accounts ?? []);
      await this.clearChangingEmails(trx, file.accounts ?? [], stored);
      const changedAccounts: string[] = [];
      for (const account of file.accounts ?? []) {
        const outcome = await this.upsertAccount(trx, account, stored.get(account.accountId), now);
        if (outcome === 'updated') changedAccounts.push(account.accountId);
        count('accounts', outcome);
      }
      for (const site of file.sites ?? []) count('sites', await this.upsertSite(trx, site, now));
      for (const app of file.apps ?? []) count('apps', await this.upsertApp(trx, app, hashes, now));
      for (const installation of file.installations ?? [])
        count('installations', await this.upsertInstallation(trx, installation, now));
      // After sites and installations, so that the news reaches the apps as the file leaves them.
      for (const accountId of changedAccounts)
        await announceAccountEvent(trx, accountId, 'account.updated', now);
      const details = Object.fromEntries(
        Object.entries(summary).flatMap(([kind, c]) => [
          [`${kind}.created`, c.created],
          [`${kind}.updated`, c.updated],
        ]),
      );
      await this.audit.appendWithin(trx, [{ actor, action: 'directory.imported', details }]);
      return summary;
    });
    // A poke is cheap; the worker finds nothing to do if the import announced nothing.
    this.options.onWebhooks?.();
    return summary;
  }

  /**
   * The import's transaction, run again when it trips a unique index. On PostgreSQL two
   * imports can both check that an email (a clientKey, a domain) is free and then both
   * claim it; the second to commit hits the index. Running again re-reads the directory,
   * so the checks now name the field that is taken, or the upsert updates what the other
   * import created. A violation the checks still do not explain is a conflict to retry.
   */
  private async writeRechecking<T>(fn: (trx: Kysely<DB>) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.database.writeTransaction(fn);
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        if (attempt >= IMPORT_ATTEMPTS)
          throw new AppError('CONFLICT', 'The directory changed while importing; send the import again');
      }
    }
  }

  private async upsertOrganization(
    trx: Kysely<DB>,
    org: NonNullable<ImportFile['organizations']>[number],
    now: string,
  ) {
    const before = await sites.findOrganization(trx, org.id);
    const domains = [...new Set((org.domains ?? []).map((d) => d.toLowerCase()))].sort();
    const storedDomains = before
      ? (await sites.findDomainOwners(trx, domains)).filter((d) => d.organization_id === org.id).length
      : 0;
    await sites.upsertOrganization(trx, { id: org.id, name: org.name }, now);
    await sites.replaceDomains(trx, org.id, domains);
    if (!before) return 'created';
    return before.name === org.name && storedDomains === domains.length ? 'unchanged' : 'updated';
  }

  /** Stored rows of the file's accounts, read before any write so that changes compare against them. */
  private async loadAccounts(trx: Kysely<DB>, list: ImportAccount[]) {
    const rows = await inBatches(
      list.map((a) => a.accountId),
      (batch) => accounts.findAccountRows(trx, batch),
    );
    return new Map(rows.map((row): [string, Selectable<AccountTable>] => [row.account_id, row]));
  }

  /** An email moving between two accounts of the file must not trip the unique index midway. */
  private async clearChangingEmails(
    trx: Kysely<DB>,
    list: ImportAccount[],
    stored: Map<string, Selectable<AccountTable>>,
  ) {
    for (const a of list) {
      const row = stored.get(a.accountId);
      const next = a.email ? normalizeEmail(a.email) : null;
      if (row?.email != null && row.email !== next)
        await accounts.updateAccount(trx, a.accountId, { email: null });
    }
  }

  private async upsertAccount(
    trx: Kysely<DB>,
    a: ImportAccount,
    before: Selectable<AccountTable> | undefined,
    now: string,
  ): Promise<Outcome> {
    const columns = {
      account_type: a.accountType,
      ...profileColumns(profileOf(a)),
      visibility: JSON.stringify(withDefaultVisibility(a.visibility)),
    };
    if (!before) {
      await accounts.insertAccount(trx, {
        account_id: a.accountId,
        status: 'active',
        ...columns,
        created_at: now,
        updated_at: now,
        pd_updated_at: now,
        closed_at: null,
      });
      await accounts.insertAccountEvent(trx, { account_id: a.accountId, type: 'account.created', at: now });
      return 'created';
    }
    const changed = (Object.keys(columns) as (keyof typeof columns)[]).some((k) => before[k] !== columns[k]);
    if (!changed) return 'unchanged';
    // The reporting cycle asks "PD changed since T?": bump the time only on a real change.
    await accounts.updateAccount(trx, a.accountId, { ...columns, updated_at: now, pd_updated_at: now });
    await accounts.insertAccountEvent(trx, { account_id: a.accountId, type: 'account.updated', at: now });
    return 'updated';
  }

  private async upsertSite(trx: Kysely<DB>, site: NonNullable<ImportFile['sites']>[number], now: string) {
    const [before] = await sites.findSites(trx, [site.id]);
    const members = [...new Set(site.members ?? [])];
    const storedMembers = before ? await sites.findMemberIds(trx, site.id) : [];
    const sameMembers =
      storedMembers.length === members.length && storedMembers.every((m) => members.includes(m));
    await sites.upsertSite(trx, { id: site.id, url: site.url }, now);
    if (!sameMembers) await sites.replaceMembers(trx, site.id, members);
    if (!before) return 'created';
    return before.url === site.url && sameMembers ? 'unchanged' : 'updated';
  }

  private async upsertApp(trx: Kysely<DB>, app: ImportApp, hashes: Map<string, string>, now: string) {
    const before = await apps.findApp(trx, app.key);
    const webhook = this.webhookColumns(app, before, now);
    const columns = {
      name: app.name,
      vendor: app.vendor,
      privacy_policy_url: app.privacyPolicyUrl ?? null,
      terms_url: app.termsUrl ?? null,
      stores_personal_data: app.storesPersonalData ? 1 : 0,
      ...webhook,
    };
    let changed =
      !before || (Object.keys(columns) as (keyof typeof columns)[]).some((k) => before[k] !== columns[k]);
    if (!before)
      await apps.insertApp(trx, {
        key: app.key,
        ...columns,
        created_at: now,
        updated_at: now,
      });
    else if (changed) await apps.updateApp(trx, app.key, { ...columns, updated_at: now });
    changed = (await this.syncOAuthClient(trx, app, hashes, now)) || changed;
    if (!before) return 'created';
    return changed ? 'updated' : 'unchanged';
  }

  /** A webhook secret given in the file wins; else the stored one is kept; else one is generated. */
  /** A webhook secret given in the file wins; else the stored one is kept; else one is generated. */
  private webhookColumns(app: ImportApp, before: Selectable<AppTable> | undefined, now: string) {
    if (!app.webhook) return { webhook_url: null, webhook_secret_enc: null, webhook_secret_shown_at: null };
    const context = secretContext.webhook(app.key);
    const stored = before?.webhook_secret_enc
      ? this.secrets.decrypt(before.webhook_secret_enc, context)
      : undefined;
    const given = app.webhook.secret;
    if (stored !== undefined && (given === undefined || given === stored)) {
      return {
        webhook_url: app.webhook.url,
        webhook_secret_enc: before?.webhook_secret_enc ?? null,
        webhook_secret_shown_at: before?.webhook_secret_shown_at ?? null,
      };
    }
    return {
      webhook_url: app.webhook.url,
      webhook_secret_enc: this.secrets.encrypt(
        given ?? `whsec_${randomBytes(32).toString('base64')}`,
        context,
      ),
      // An operator-supplied secret is known already; a generated one waits for `custos app show`.
      webhook_secret_shown_at: given === undefined ? null : now,
    };
  }

  private async syncOAuthClient(trx: Kysely<DB>, app: ImportApp, hashes: Map<string, string>, now: string) {
    const [current] = await apps.findOAuthClientsOf(trx, [], [app.key]);
    if (!app.oauth) {
      if (current) await apps.deleteOAuthClientOf(trx, app.key);
      return current !== undefined;
    }
    const scopes = JSON.stringify([...app.oauth.scopes].sort());
    if (
      current &&
      current.client_id === app.oauth.clientId &&
      current.scopes === scopes &&
      (await verifySecret(app.oauth.clientSecret, current.secret_hash))
    )
      return false;
    await apps.upsertOAuthClient(trx, {
      client_id: app.oauth.clientId,
      app_key: app.key,
      secret_hash: hashes.get(app.key) ?? (await hashSecret(app.oauth.clientSecret)),
      scopes,
      created_at: current?.created_at ?? now,
      updated_at: now,
    });
    return true;
  }

  private async upsertInstallation(
    trx: Kysely<DB>,
    n: NonNullable<ImportFile['installations']>[number],
    now: string,
  ) {
    const before = await apps.findInstallation(trx, n.app, n.site);
    if (!before) {
      const id = randomUUID();
      await apps.insertInstallation(trx, {
        id,
        app_key: n.app,
        site_id: n.site,
        client_key: n.clientKey,
        shared_secret_enc: this.secrets.encrypt(n.sharedSecret, secretContext.installation(id)),
        installed_at: now,
        uninstalled_at: null,
      });
      const installed = { id, app_key: n.app, site_id: n.site, client_key: n.clientKey };
      await announceLifecycleEvent(trx, installed, 'app.installed', now);
      return 'created';
    }
    const sameSecret =
      this.secrets.decrypt(before.shared_secret_enc, secretContext.installation(before.id)) ===
      n.sharedSecret;
    if (sameSecret && before.client_key === n.clientKey && before.uninstalled_at === null) return 'unchanged';
    await apps.updateInstallation(trx, before.id, {
      client_key: n.clientKey,
      shared_secret_enc: sameSecret
        ? before.shared_secret_enc
        : this.secrets.encrypt(n.sharedSecret, secretContext.installation(before.id)),
      // Importing an installation that was uninstalled installs it again.
      uninstalled_at: null,
      installed_at: before.uninstalled_at === null ? before.installed_at : now,
    });
    if (before.uninstalled_at !== null)
      await announceLifecycleEvent(trx, { ...before, client_key: n.clientKey }, 'app.installed', now);
    return 'updated';
  }
}
