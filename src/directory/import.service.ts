import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Kysely, Selectable } from 'kysely';
import type { AuditActor, AuditLog } from '../audit/audit.service.js';
import { hashSecret, verifySecret } from '../crypto/password-hash.js';
import type { SecretBox } from '../crypto/secret-box.js';
import { type Database, isUniqueViolation } from '../db/dialect.js';
import type { AccountTable, AppTable, DB } from '../db/schema.js';
import { AppError } from '../errors/app-error.js';
import { normalizeEmail } from '../shared/email.js';
import type { LongRun, ProgressListener } from '../shared/progress.js';
import { assertRegistrableUrl } from '../webhooks/webhook-url.js';
import {
  accountFromRow,
  chosenVisibilityFields,
  keepOwnVisibility,
  type Profile,
  profileColumns,
  type VisibilitySettings,
  withDefaultVisibility,
} from './account.model.js';
import * as accounts from './account.repository.js';
import type { AccountEvents } from './account-events.port.js';
import * as apps from './app.repository.js';
import { credentialsChanged } from './credential-changes.js';
import type { GrantRevocation } from './grant-revocation.port.js';
import type { ImportAccount, ImportApp, ImportFile, ImportKind, ImportSummary } from './import.schemas.js';
import {
  canonicalize,
  checkReferences,
  checkShape,
  ImportValidationError,
  inBatches,
} from './import.validate.js';
import { secretContext } from './secrets.js';
import * as sites from './site.repository.js';

type Outcome = 'created' | 'updated' | 'unchanged';

/**
 * One write transaction of an import ends after this many rows, or after this long,
 * whichever comes first: the write lock (all of SQLite, the touched rows on PostgreSQL)
 * is never held for long, so the server goes on writing during a large import.
 */
const CHUNK_ROWS = 500;
const CHUNK_BUDGET_MS = 50;
/** Accounts are loaded, compared and inserted this many at a time, within a chunk. */
const ACCOUNT_BATCH = 100;
/** Passes an import may make when concurrent imports keep claiming the same values. */
const IMPORT_ATTEMPTS = 3;

function emptySummary(): ImportSummary {
  const counts = () => ({ created: 0, updated: 0, unchanged: 0 });
  return {
    organizations: counts(),
    accounts: { ...counts(), ownVisibilityKept: 0 },
    sites: counts(),
    apps: counts(),
    installations: counts(),
  };
}

function addSummary(into: ImportSummary, from: ImportSummary) {
  for (const kind of Object.keys(into) as ImportKind[])
    for (const outcome of ['created', 'updated', 'unchanged'] as const)
      into[kind][outcome] += from[kind][outcome];
  into.accounts.ownVisibilityKept += from.accounts.ownVisibilityKept;
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

function accountColumns(
  a: ImportAccount,
  visibility: VisibilitySettings = withDefaultVisibility(a.visibility),
) {
  return {
    account_type: a.accountType,
    ...profileColumns(profileOf(a)),
    visibility: JSON.stringify(visibility),
  };
}

/**
 * A stored account's columns as the file gives them, but for the visibility settings the
 * person chose themselves: those stay theirs. `kept`: the file wanted one of them otherwise.
 */
function storedAccountColumns(a: ImportAccount, before: Selectable<AccountTable>) {
  const wanted = withDefaultVisibility(a.visibility);
  const chosen = chosenVisibilityFields(before.visibility_chosen);
  if (chosen.length === 0) return { columns: accountColumns(a, wanted), kept: false };
  const { visibility, kept } = keepOwnVisibility(wanted, accountFromRow(before).visibility, chosen);
  return { columns: accountColumns(a, visibility), kept };
}

/** The records a file holds: what an import's progress counts. */
function recordsOf(file: ImportFile): number {
  return (
    (file.organizations?.length ?? 0) +
    (file.accounts?.length ?? 0) +
    (file.sites?.length ?? 0) +
    (file.apps?.length ?? 0) +
    (file.installations?.length ?? 0)
  );
}

/** The records a summary counts, whatever their outcome. */
function recordsIn(summary: ImportSummary): number {
  return Object.values(summary).reduce((n, c) => n + c.created + c.updated + c.unchanged, 0);
}

function slices<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** What one chunk did: its counts, and the site memberships it changed. */
interface Tally {
  summary: ImportSummary;
  membersAdded: number;
  membersRemoved: number;
  count(kind: ImportKind, outcome: Outcome): void;
}

function newTally(): Tally {
  const summary = emptySummary();
  return {
    summary,
    membersAdded: 0,
    membersRemoved: 0,
    count(kind, outcome) {
      summary[kind][outcome] += 1;
    },
  };
}

/** One unit of the import's writes; returns roughly how many rows it wrote. */
type Step = (trx: Kysely<DB>, tally: Tally) => Promise<number>;

/** What the whole file's validation found out, for the writes to use. */
interface Prepared {
  file: ImportFile;
  /** Who imports: the grants a removed client held end in their name. */
  actor: AuditActor;
  now: string;
  /** scrypt hashes of the file's OAuth client secrets, made before any transaction: scrypt is slow on purpose. */
  hashes: Map<string, string>;
  /** Stored OAuth secret hashes that the file's secret matches (checked before any transaction too). */
  matchingHashes: Map<string, string>;
  /** Which account of the file takes each email. */
  emailTakers: Map<string, string>;
  /** Stored accounts whose email another account of the file takes. */
  handingOn: string[];
  /** Accounts this run has counted as updated already (an email handed on counts once). */
  updated: Set<string>;
}

/** The tables an import writes (the steps below). */
const IMPORTED_TABLES = [
  'organizations',
  'organization_domains',
  'accounts',
  'account_events',
  'sites',
  'site_members',
  'apps',
  'oauth_clients',
  'installations',
] as const;

/**
 * `custos import` and the admin import endpoint: an idempotent upsert of directory data.
 * Each record is the whole truth about its object (omitted profile fields are cleared,
 * omitted visibility entries take the defaults, omitted members/webhook/oauth are removed);
 * objects absent from the file are left alone. The whole file is validated first, so an
 * invalid record means nothing is written; then it is written in bounded transactions
 * (CHUNK_ROWS, CHUNK_BUDGET_MS), each with its audit entry, so a large import never holds
 * the write lock for long. An interrupted import leaves the chunks written so far; running
 * the same file again completes it (it is an idempotent upsert).
 */
export class DirectoryImporter {
  constructor(
    private readonly database: Database,
    private readonly secrets: SecretBox,
    private readonly audit: AuditLog,
    private readonly ports: {
      /** Imported changes are told to apps in the transaction that writes them. */
      accountEvents: AccountEvents;
      /** A client that stops taking part in user grants ends its grants in the same transaction. */
      grants: GrantRevocation;
    },
    private readonly options: { allowPrivateWebhooks?: boolean; onWebhooks?: () => void } = {},
  ) {}

  /** `run.onProgress` follows how many of the file's records are written. */
  async importDirectory(
    input: unknown,
    actor: AuditActor,
    run: Pick<LongRun, 'onProgress'> = {},
  ): Promise<ImportSummary> {
    const file = canonicalize(checkShape(input));
    // SSRF (OWASP API7): a vendor's webhook URL must not point into the operator's network.
    for (const [i, app] of (file.apps ?? []).entries())
      if (app.webhook)
        await assertRegistrableUrl(
          app.webhook.url,
          this.options.allowPrivateWebhooks ?? false,
          `apps[${i}].webhook.url`,
        );
    const hashes = new Map<string, string>();
    for (const app of file.apps ?? [])
      if (app.oauth) hashes.set(app.key, await hashSecret(app.oauth.clientSecret));
    await checkReferences(this.database.db, file);
    const progress = { parts: 0, records: recordsOf(file), onProgress: run.onProgress };
    try {
      for (let attempt = 1; ; attempt += 1) {
        try {
          run.onProgress?.(0, progress.records);
          return await this.writeInChunks(
            this.steps(await this.prepare(file, hashes, actor)),
            actor,
            progress,
          );
        } catch (error) {
          if (!isUniqueViolation(error)) throw error;
          // Another writer (a concurrent import, on PostgreSQL) took a value this file sets
          // after the check: the checks now name it (400). If they do not, the other writer
          // created the same object; another pass updates it (the upsert is idempotent), and
          // the summary is that pass's.
          await checkReferences(this.database.db, file).catch((refused: unknown) => {
            if (refused instanceof ImportValidationError && progress.parts > 0)
              throw new ImportValidationError(refused.problems, true);
            throw refused;
          });
          if (attempt >= IMPORT_ATTEMPTS)
            throw new AppError('CONFLICT', 'The directory changed while importing; send the import again');
        }
      }
    } finally {
      // A poke is cheap; the worker finds nothing to do if the import announced nothing.
      this.options.onWebhooks?.();
    }
  }

  /** What the writes need to know of the stored directory, read before any transaction. */
  private async prepare(file: ImportFile, hashes: Map<string, string>, actor: AuditActor): Promise<Prepared> {
    const emailTakers = new Map(
      (file.accounts ?? []).flatMap((a) => (a.email ? [[normalizeEmail(a.email), a.accountId]] : [])),
    );
    const owners = await inBatches([...emailTakers.keys()], (batch) =>
      accounts.findAccountIdsByEmails(this.database.db, batch),
    );
    // Only an account of this file gives its email up. An account outside it that holds one
    // now took it after the check (another writer): it keeps it, and the write's unique
    // violation has the check name it (400).
    const fileAccounts = new Set((file.accounts ?? []).map((a) => a.accountId));
    return {
      file,
      actor,
      now: new Date().toISOString(),
      hashes,
      matchingHashes: await this.matchingOAuthHashes(file),
      emailTakers,
      handingOn: owners
        .filter((o) => fileAccounts.has(o.account_id) && emailTakers.get(o.email ?? '') !== o.account_id)
        .map((o) => o.account_id),
      updated: new Set(),
    };
  }

  /**
   * Runs the steps in consecutive write transactions of at most CHUNK_ROWS rows or
   * CHUNK_BUDGET_MS each. Every chunk appends its own `directory.imported` entry (its
   * counts, the import's id and its part number), so there is no change without its entry.
   */
  private async writeInChunks(
    steps: Iterator<Step>,
    actor: AuditActor,
    progress: { parts: number; records: number; onProgress?: ProgressListener },
  ): Promise<ImportSummary> {
    const importId = randomUUID();
    const total = emptySummary();
    let next = steps.next();
    for (let part = 1; !next.done; part++) {
      const tally = await this.database.writeTransaction(async (trx) => {
        const tally = newTally();
        const started = performance.now();
        let rows = 0;
        do {
          rows += await next.value(trx, tally);
          next = steps.next();
        } while (!next.done && rows < CHUNK_ROWS && performance.now() - started < CHUNK_BUDGET_MS);
        const details = Object.fromEntries(
          Object.entries(tally.summary).flatMap(([kind, c]) => [
            [`${kind}.created`, c.created],
            [`${kind}.updated`, c.updated],
          ]),
        );
        details['accounts.ownVisibilityKept'] = tally.summary.accounts.ownVisibilityKept;
        await this.audit.appendWithin(trx, [
          {
            actor,
            action: 'directory.imported',
            details: {
              importId,
              part,
              ...details,
              'members.added': tally.membersAdded,
              'members.removed': tally.membersRemoved,
            },
          },
        ]);
        return tally;
      });
      // Committed: no credential read before now is trusted any more (credential-changes.ts).
      credentialsChanged();
      addSummary(total, tally.summary);
      progress.parts += 1;
      const written = recordsIn(total);
      progress.onProgress?.(written, Math.max(written, progress.records));
      if (!next.done) await this.database.pauseBetweenTransactions();
    }
    // The next reports and user calls are planned for the directory as it now is.
    if (Object.values(total).some((c) => c.created + c.updated > 0))
      await this.database.refreshStatistics(IMPORTED_TABLES);
    return total;
  }

  /**
   * The writes in the order references need them: organizations before the accounts that
   * name them, accounts before the sites that list them, apps and sites before their
   * installations. Lazy: a site's membership steps are made once its own step has read
   * the stored members.
   */
  private *steps(p: Prepared): Generator<Step> {
    const { file } = p;
    for (const org of file.organizations ?? [])
      yield async (trx, tally) => {
        tally.count('organizations', await this.upsertOrganization(trx, org, p.now));
        return 1 + (org.domains?.length ?? 0);
      };
    for (const batch of slices(p.handingOn, ACCOUNT_BATCH))
      yield (trx, tally) => this.releaseHandedOnEmails(trx, batch, p, tally);
    for (const batch of slices(file.accounts ?? [], ACCOUNT_BATCH))
      yield (trx, tally) => this.upsertAccounts(trx, batch, p, tally);
    for (const site of file.sites ?? []) {
      const members = { add: [] as string[], remove: [] as string[] };
      yield async (trx, tally) => {
        tally.count('sites', await this.upsertSite(trx, site, members, p.now));
        return 1;
      };
      // Additions before removals: an account that stays a member is never missing meanwhile.
      for (const add of slices(members.add, CHUNK_ROWS))
        yield async (trx, tally) => {
          await sites.addMembers(trx, site.id, add);
          tally.membersAdded += add.length;
          return add.length;
        };
      for (const remove of slices(members.remove, CHUNK_ROWS))
        yield async (trx, tally) => {
          await sites.removeMembers(trx, site.id, remove);
          tally.membersRemoved += remove.length;
          return remove.length;
        };
    }
    for (const app of file.apps ?? [])
      yield async (trx, tally) => {
        tally.count('apps', await this.upsertApp(trx, app, p));
        return 2;
      };
    for (const installation of file.installations ?? [])
      yield async (trx, tally) => {
        tally.count('installations', await this.upsertInstallation(trx, installation, p.now));
        return 1;
      };
  }

  /** Stored OAuth secret hashes that the file's client secret matches, by app key. */
  private async matchingOAuthHashes(file: ImportFile): Promise<Map<string, string>> {
    const withOAuth = (file.apps ?? []).filter((a) => a.oauth);
    const stored = await inBatches(
      withOAuth.map((a) => a.key),
      (batch) => apps.findOAuthClientsOf(this.database.db, [], batch),
    );
    const matching = new Map<string, string>();
    for (const app of withOAuth) {
      const current = stored.find((c) => c.app_key === app.key);
      if (current && app.oauth && (await verifySecret(app.oauth.clientSecret, current.secret_hash)))
        matching.set(app.key, current.secret_hash);
    }
    return matching;
  }

  private async upsertOrganization(
    trx: Kysely<DB>,
    org: NonNullable<ImportFile['organizations']>[number],
    now: string,
  ) {
    const before = await sites.findOrganization(trx, org.id);
    const domains = [...new Set(org.domains ?? [])].sort();
    const storedDomains = before
      ? (await sites.findDomainOwners(trx, domains)).filter((d) => d.organization_id === org.id).length
      : 0;
    await sites.upsertOrganization(trx, { id: org.id, name: org.name }, now);
    await sites.replaceDomains(trx, org.id, domains);
    if (!before) return 'created';
    return before.name === org.name && storedDomains === domains.length ? 'unchanged' : 'updated';
  }

  /**
   * An email handed from one account of the file to another must not trip the unique index
   * while the first still holds it: before any account is written, each account whose
   * stored email another account of the file takes gives it up. That is a change of its
   * PD in its own right, recorded and announced in the same transaction, so an import
   * interrupted right after it still leaves every change told.
   */
  private async releaseHandedOnEmails(trx: Kysely<DB>, accountIds: string[], p: Prepared, tally: Tally) {
    const stored = await accounts.findAccountRows(trx, accountIds);
    let rows = 1;
    for (const row of stored) {
      const taker = row.email === null ? undefined : p.emailTakers.get(row.email);
      if (taker === undefined || taker === row.account_id) continue;
      await accounts.updateAccount(trx, row.account_id, {
        email: null,
        updated_at: p.now,
        pd_updated_at: p.now,
      });
      await this.recordUpdate(trx, row.account_id, p, tally);
      rows += 2;
    }
    return rows;
  }

  private async recordUpdate(trx: Kysely<DB>, accountId: string, p: Prepared, tally: Tally) {
    await accounts.insertAccountEvent(trx, { account_id: accountId, type: 'account.updated', at: p.now });
    // In the change's own transaction: the webhook and the art. 19 notice exist exactly when it does.
    await this.ports.accountEvents.announceAccountEvent(trx, accountId, 'account.updated', p.now);
    if (p.updated.has(accountId)) return;
    p.updated.add(accountId);
    tally.count('accounts', 'updated');
  }

  private async upsertAccounts(trx: Kysely<DB>, batch: ImportAccount[], p: Prepared, tally: Tally) {
    const stored = new Map(
      (
        await accounts.findAccountRows(
          trx,
          batch.map((a) => a.accountId),
        )
      ).map((row): [string, Selectable<AccountTable>] => [row.account_id, row]),
    );
    const created = batch.filter((a) => !stored.has(a.accountId));
    await accounts.insertAccounts(
      trx,
      created.map((a) => ({
        account_id: a.accountId,
        status: 'active',
        ...accountColumns(a),
        created_at: p.now,
        updated_at: p.now,
        pd_updated_at: p.now,
        closed_at: null,
      })),
    );
    await accounts.insertAccountEvent(
      trx,
      created.map((a) => ({ account_id: a.accountId, type: 'account.created' as const, at: p.now })),
    );
    tally.summary.accounts.created += created.length;
    let rows = 2 * created.length;
    for (const a of batch) {
      const before = stored.get(a.accountId);
      if (before) rows += await this.updateAccount(trx, a, before, p, tally);
    }
    return rows;
  }

  /**
   * Writes a stored account as the file gives it, keeping the visibility settings its person
   * chose. The write holds only if those are still what was read: a person's change that
   * committed in between (PostgreSQL runs both at once) is read again and kept too.
   */
  private async updateAccount(
    trx: Kysely<DB>,
    a: ImportAccount,
    read: Selectable<AccountTable>,
    p: Prepared,
    tally: Tally,
  ): Promise<number> {
    let before = read;
    for (let attempt = 1; ; attempt += 1) {
      const { columns, kept } = storedAccountColumns(a, before);
      const changed = (Object.keys(columns) as (keyof typeof columns)[]).some(
        (k) => before[k] !== columns[k],
      );
      if (!changed) {
        if (!p.updated.has(a.accountId)) tally.count('accounts', 'unchanged');
        if (kept) tally.summary.accounts.ownVisibilityKept += 1;
        return 1;
      }
      // The reporting cycle asks "PD changed since T?": bump the time only on a real change.
      const changes = { ...columns, updated_at: p.now, pd_updated_at: p.now };
      if (await accounts.updateAccountIfVisibilityIs(trx, a.accountId, before, changes)) {
        await this.recordUpdate(trx, a.accountId, p, tally);
        if (kept) tally.summary.accounts.ownVisibilityKept += 1;
        return 3;
      }
      const again = await accounts.findAccountRow(trx, a.accountId);
      if (!again || attempt >= IMPORT_ATTEMPTS)
        throw new AppError('CONFLICT', 'The directory changed while importing; send the import again');
      before = again;
    }
  }

  /** Upserts the site row and works out, into `members`, which members to add and remove. */
  private async upsertSite(
    trx: Kysely<DB>,
    site: NonNullable<ImportFile['sites']>[number],
    members: { add: string[]; remove: string[] },
    now: string,
  ): Promise<Outcome> {
    const [before] = await sites.findSites(trx, [site.id]);
    const wanted = new Set(site.members ?? []);
    const stored = new Set(before ? await sites.findMemberIds(trx, site.id) : []);
    members.add.push(...[...wanted].filter((m) => !stored.has(m)));
    members.remove.push(...[...stored].filter((m) => !wanted.has(m)));
    await sites.upsertSite(trx, { id: site.id, url: site.url }, now);
    if (!before) return 'created';
    const sameMembers = members.add.length === 0 && members.remove.length === 0;
    return before.url === site.url && sameMembers ? 'unchanged' : 'updated';
  }

  private async upsertApp(trx: Kysely<DB>, app: ImportApp, p: Prepared): Promise<Outcome> {
    const before = await apps.findApp(trx, app.key);
    const webhook = this.webhookColumns(app, before, p.now);
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
        created_at: p.now,
        updated_at: p.now,
      });
    else if (changed) await apps.updateApp(trx, app.key, { ...columns, updated_at: p.now });
    changed = (await this.syncOAuthClient(trx, app, p)) || changed;
    if (!before) return 'created';
    return changed ? 'updated' : 'unchanged';
  }

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

  private async syncOAuthClient(trx: Kysely<DB>, app: ImportApp, p: Prepared) {
    const [current] = await apps.findOAuthClientsOf(trx, [], [app.key]);
    // A client removed, replaced by another client id or left without redirect URIs can ask
    // no one for access: the grants it holds end now, for good (docs/app-grants.md#when-grants-end).
    const endsGrants =
      !app.oauth || app.oauth.clientId !== current?.client_id || (app.oauth.redirectUris ?? []).length === 0;
    if (current && endsGrants)
      await this.ports.grants.revokeClientGrants(
        trx,
        { clientId: current.client_id, appKey: app.key },
        'client-removed',
        p.actor,
      );
    if (!app.oauth) {
      if (current) await apps.deleteOAuthClientOf(trx, app.key);
      return current !== undefined;
    }
    const scopes = JSON.stringify([...app.oauth.scopes].sort());
    const redirectUris = JSON.stringify(app.oauth.redirectUris ?? []);
    if (
      current &&
      current.client_id === app.oauth.clientId &&
      current.scopes === scopes &&
      current.redirect_uris === redirectUris &&
      current.secret_hash === p.matchingHashes.get(app.key)
    )
      return false;
    await apps.upsertOAuthClient(trx, {
      client_id: app.oauth.clientId,
      app_key: app.key,
      secret_hash: p.hashes.get(app.key) as string,
      scopes,
      redirect_uris: redirectUris,
      created_at: current?.created_at ?? p.now,
      updated_at: p.now,
    });
    return true;
  }

  private async upsertInstallation(
    trx: Kysely<DB>,
    n: NonNullable<ImportFile['installations']>[number],
    now: string,
  ): Promise<Outcome> {
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
      const installed = { id, appKey: n.app, siteId: n.site, clientKey: n.clientKey };
      await this.ports.accountEvents.announceLifecycleEvent(trx, installed, 'app.installed', now);
      return 'created';
    }
    const sameSecret =
      this.secrets.decrypt(before.shared_secret_enc, secretContext.installation(before.id)) ===
      n.sharedSecret;
    if (sameSecret && before.client_key === n.clientKey && before.uninstalled_at === null) return 'unchanged';
    // Validation refused a new clientKey for an installed app × site; an uninstalled one may
    // come back under a new key (installed again).
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
      await this.ports.accountEvents.announceLifecycleEvent(
        trx,
        { id: before.id, appKey: before.app_key, siteId: before.site_id, clientKey: n.clientKey },
        'app.installed',
        now,
      );
    return 'updated';
  }
}
