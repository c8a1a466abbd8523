import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { AppError } from '../errors/app-error.js';
import { RESERVED_ACCOUNT_ID } from '../shared/account-id.js';
import { normalizeEmail } from '../shared/email.js';
import { problemsOf, strictAjv } from '../validation.js';
import * as accounts from './account.repository.js';
import * as apps from './app.repository.js';
import { canonicalHost, canonicalSiteUrl, foldKey } from './canonical.js';
import { ImportFile } from './import.schemas.js';
import * as sites from './site.repository.js';

export interface ImportProblem {
  path: string;
  message: string;
}

/**
 * An import refused, listing every bad record by its path in the file. Refused by the
 * checks before any write, nothing was written; `partlyWritten` when a concurrent writer
 * took a value after the checks and parts of the file had been written already.
 */
export class ImportValidationError extends AppError {
  constructor(
    readonly problems: ImportProblem[],
    readonly partlyWritten = false,
  ) {
    const shown = problems.slice(0, 20).map((p) => `${p.path}: ${p.message}`);
    if (problems.length > shown.length) shown.push(`… and ${problems.length - shown.length} more`);
    super('VALIDATION_FAILED', shown.join('; '), { field: problems[0]?.path ?? 'body' });
  }
}

const validateShape = strictAjv.compile<ImportFile>(ImportFile);

/** `['accounts', '3', 'visibility', 'email']` → `accounts[3].visibility.email` */
function pathOf(parts: string[]): string {
  return parts.reduce(
    (acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part),
    '',
  );
}

/** Structural validation of the whole file (types, formats, unknown properties). */
export function checkShape(input: unknown): ImportFile {
  if (validateShape(input)) return input;
  throw new ImportValidationError(
    problemsOf(validateShape.errors ?? []).map((p) => ({
      path: pathOf(p.path) || 'file',
      message: p.message,
    })),
  );
}

/**
 * The file with every value that has several spellings in its one form (canonical.ts):
 * site URLs and organization domains. Refuses site URLs that cannot be a base URL.
 */
export function canonicalize(file: ImportFile): ImportFile {
  const problems: ImportProblem[] = [];
  const siteList = (file.sites ?? []).map((site, i) => {
    const canonical = canonicalSiteUrl(site.url);
    if ('problem' in canonical) {
      problems.push({ path: `sites[${i}].url`, message: canonical.problem });
      return site;
    }
    return { ...site, url: canonical.url };
  });
  if (problems.length > 0) throw new ImportValidationError(problems);
  return {
    ...file,
    ...(file.organizations && {
      organizations: file.organizations.map((o) => ({
        ...o,
        ...(o.domains && { domains: o.domains.map(canonicalHost) }),
      })),
    }),
    ...(file.sites && { sites: siteList }),
  };
}

/**
 * Reports every value seen twice under `kind`, by the path of its second (and later) use.
 * `fold` maps the values that name the same object onto one (case-insensitive keys).
 */
function duplicates(
  problems: ImportProblem[],
  items: [string, string][],
  what: string,
  fold: (value: string) => string = (v) => v,
) {
  const first = new Map<string, string>();
  for (const [value, path] of items) {
    const earlier = first.get(fold(value));
    if (earlier !== undefined) problems.push({ path, message: `duplicate ${what} (also at ${earlier})` });
    else first.set(fold(value), path);
  }
}

const CASE_NOTE = 'compared without regard to case';

const unique = (values: string[]) => [...new Set(values)];

/** Runs a lookup by ids in batches that stay under both engines' bound-parameter limits. */
export async function inBatches<T>(ids: string[], find: (batch: string[]) => Promise<T[]>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < ids.length; i += 500) out.push(...(await find(ids.slice(i, i + 500))));
  return out;
}

/**
 * Checks the file against itself and against what is stored: duplicates, references to
 * objects that exist neither in the file nor in the directory, and values another stored
 * object already owns. Runs before the import's write transactions, holding no lock; a
 * value another writer takes in between makes a write fail, and the importer then runs
 * this again to name it.
 */
export async function checkReferences(db: Kysely<DB>, file: ImportFile): Promise<void> {
  const problems: ImportProblem[] = [];
  const orgs = file.organizations ?? [];
  const accs = file.accounts ?? [];
  const siteList = file.sites ?? [];
  const appList = file.apps ?? [];
  const installs = file.installations ?? [];

  duplicates(
    problems,
    orgs.map((o, i) => [o.id, `organizations[${i}].id`]),
    'organization id',
  );
  duplicates(
    problems,
    orgs.flatMap((o, i) =>
      (o.domains ?? []).map((d, j): [string, string] => [d, `organizations[${i}].domains[${j}]`]),
    ),
    'domain',
  );
  duplicates(
    problems,
    accs.map((a, i) => [a.accountId, `accounts[${i}].accountId`]),
    'accountId',
  );
  duplicates(
    problems,
    accs.flatMap((a, i): [string, string][] =>
      a.email ? [[normalizeEmail(a.email), `accounts[${i}].email`]] : [],
    ),
    'email',
  );
  duplicates(
    problems,
    siteList.map((s, i) => [s.id, `sites[${i}].id`]),
    'site id',
  );
  duplicates(
    problems,
    siteList.map((s, i) => [s.url, `sites[${i}].url`]),
    'site url',
  );
  siteList.forEach((s, i) => {
    duplicates(
      problems,
      (s.members ?? []).map((m, j) => [m, `sites[${i}].members[${j}]`]),
      'member',
    );
  });
  duplicates(
    problems,
    appList.map((a, i) => [a.key, `apps[${i}].key`]),
    `app key, ${CASE_NOTE}`,
    foldKey,
  );
  duplicates(
    problems,
    appList.flatMap((a, i): [string, string][] =>
      a.oauth ? [[a.oauth.clientId, `apps[${i}].oauth.clientId`]] : [],
    ),
    `OAuth clientId, ${CASE_NOTE}`,
    foldKey,
  );
  duplicates(
    problems,
    installs.map((n, i) => [`${n.app} on ${n.site}`, `installations[${i}]`]),
    'installation',
  );
  duplicates(
    problems,
    installs.map((n, i) => [n.clientKey, `installations[${i}].clientKey`]),
    `clientKey, ${CASE_NOTE}`,
    foldKey,
  );
  accs.forEach((a, i) => {
    if (a.accountId === RESERVED_ACCOUNT_ID)
      problems.push({ path: `accounts[${i}].accountId`, message: '"unknown" is reserved and never stored' });
  });
  siteList.forEach((s, i) => {
    (s.members ?? []).forEach((m, j) => {
      if (m === RESERVED_ACCOUNT_ID)
        problems.push({
          path: `sites[${i}].members[${j}]`,
          message: '"unknown" is reserved and never stored',
        });
    });
  });

  // References: to the file, else to the directory.
  const fileOrgs = new Set(orgs.map((o) => o.id));
  const orgRefs = [
    ...new Set(
      accs.flatMap((a) => (a.organization && !fileOrgs.has(a.organization) ? [a.organization] : [])),
    ),
  ];
  const knownOrgs = new Set(
    (await inBatches(orgRefs, (b) => sites.findOrganizationIds(db, b))).map((r) => r.id),
  );
  accs.forEach((a, i) => {
    if (a.organization && !fileOrgs.has(a.organization) && !knownOrgs.has(a.organization))
      problems.push({ path: `accounts[${i}].organization`, message: `no organization "${a.organization}"` });
  });

  const fileAccounts = new Set(accs.map((a) => a.accountId));
  const memberRefs = [
    ...new Set(siteList.flatMap((s) => (s.members ?? []).filter((m) => !fileAccounts.has(m)))),
  ];
  const knownAccounts = new Set(
    (await inBatches(memberRefs, (b) => accounts.findAccountRows(db, b))).map((r) => r.account_id),
  );
  siteList.forEach((s, i) => {
    (s.members ?? []).forEach((m, j) => {
      if (!fileAccounts.has(m) && !knownAccounts.has(m) && m !== RESERVED_ACCOUNT_ID)
        problems.push({ path: `sites[${i}].members[${j}]`, message: `no account "${m}"` });
    });
  });

  const fileApps = new Set(appList.map((a) => a.key));
  const fileSites = new Set(siteList.map((s) => s.id));
  const knownApps = new Set(
    (
      await inBatches(unique(installs.map((n) => n.app).filter((k) => !fileApps.has(k))), (b) =>
        apps.findAppKeys(db, b),
      )
    ).map((r) => r.key),
  );
  const knownSites = new Set(
    (
      await inBatches(unique(installs.map((n) => n.site).filter((k) => !fileSites.has(k))), (b) =>
        sites.findSites(db, b),
      )
    ).map((r) => r.id),
  );
  installs.forEach((n, i) => {
    if (!fileApps.has(n.app) && !knownApps.has(n.app))
      problems.push({ path: `installations[${i}].app`, message: `no app "${n.app}"` });
    if (!fileSites.has(n.site) && !knownSites.has(n.site))
      problems.push({ path: `installations[${i}].site`, message: `no site "${n.site}"` });
  });

  await checkOwnership(db, file, problems);
  if (problems.length > 0) throw new ImportValidationError(problems);
}

/** Values that must be unique and are already held by a stored object the file does not redefine. */
async function checkOwnership(db: Kysely<DB>, file: ImportFile, problems: ImportProblem[]) {
  const accs = file.accounts ?? [];
  const fileAccountIds = new Set(accs.map((a) => a.accountId));
  const stored = await inBatches(
    accs.map((a) => a.accountId),
    (b) => accounts.findAccountRows(db, b),
  );
  const closed = new Set(stored.filter((r) => r.status === 'closed').map((r) => r.account_id));
  accs.forEach((a, i) => {
    if (closed.has(a.accountId))
      problems.push({
        path: `accounts[${i}]`,
        message: 'the account is closed: its personal data stays erased',
      });
  });
  const emails = accs.flatMap((a) => (a.email ? [normalizeEmail(a.email)] : []));
  const owners = new Map(
    (await inBatches(emails, (b) => accounts.findAccountIdsByEmails(db, b))).map((r) => [
      r.email,
      r.account_id,
    ]),
  );
  accs.forEach((a, i) => {
    const owner = a.email ? owners.get(normalizeEmail(a.email)) : undefined;
    if (owner && owner !== a.accountId && !fileAccountIds.has(owner))
      problems.push({ path: `accounts[${i}].email`, message: 'already belongs to another account' });
  });

  const orgs = file.organizations ?? [];
  const fileOrgIds = new Set(orgs.map((o) => o.id));
  const domainOwners = new Map(
    (
      await inBatches(
        orgs.flatMap((o) => o.domains ?? []),
        (b) => sites.findDomainOwners(db, b),
      )
    ).map((r) => [r.domain, r.organization_id]),
  );
  orgs.forEach((o, i) => {
    (o.domains ?? []).forEach((d, j) => {
      const owner = domainOwners.get(d);
      if (owner && owner !== o.id && !fileOrgIds.has(owner))
        problems.push({
          path: `organizations[${i}].domains[${j}]`,
          message: 'already belongs to another organization',
        });
    });
  });

  const siteList = file.sites ?? [];
  const urlOwners = new Map(
    (
      await inBatches(
        siteList.map((s) => s.url),
        (b) => sites.findSitesByUrls(db, b),
      )
    ).map((r) => [r.url, r.id]),
  );
  siteList.forEach((s, i) => {
    const owner = urlOwners.get(s.url);
    if (owner && owner !== s.id)
      problems.push({ path: `sites[${i}].url`, message: 'already belongs to another site' });
  });

  await checkKeys(db, file, problems);
}

/**
 * App keys, clientKeys and OAuth client ids name one object whatever their case: a value
 * that differs only in case from a stored one must use the stored spelling (what apps send
 * on the wire). A clientKey stays its installation's: an installed app × site is not given
 * another one silently (a Connect app signs with its own clientKey as `iss`, so replacing
 * it would lock the installation out or hand it to whoever holds the new key).
 */
async function checkKeys(db: Kysely<DB>, file: ImportFile, problems: ImportProblem[]) {
  const caseDiffers = (kind: string, stored: string) =>
    `differs only in case from the stored ${kind} "${stored}" (${CASE_NOTE}); use "${stored}"`;

  const appList = file.apps ?? [];
  const storedApps = new Map(
    (
      await inBatches(unique(appList.map((a) => foldKey(a.key))), (b) => apps.findAppsByFoldedKeys(db, b))
    ).map((r) => [foldKey(r.key), r.key]),
  );
  appList.forEach((a, i) => {
    const stored = storedApps.get(foldKey(a.key));
    if (stored !== undefined && stored !== a.key)
      problems.push({ path: `apps[${i}].key`, message: caseDiffers('app key', stored) });
  });

  const clients = new Map(
    (
      await inBatches(unique(appList.flatMap((a) => (a.oauth ? [foldKey(a.oauth.clientId)] : []))), (b) =>
        apps.findOAuthClientsByFoldedIds(db, b),
      )
    ).map((c) => [foldKey(c.client_id), c]),
  );
  appList.forEach((a, i) => {
    const owner = a.oauth ? clients.get(foldKey(a.oauth.clientId)) : undefined;
    if (!a.oauth || !owner) return;
    const path = `apps[${i}].oauth.clientId`;
    if (owner.app_key !== a.key) problems.push({ path, message: 'already belongs to another app' });
    else if (owner.client_id !== a.oauth.clientId)
      problems.push({ path, message: caseDiffers('OAuth clientId', owner.client_id) });
  });

  const installs = file.installations ?? [];
  const keyOwners = new Map(
    (
      await inBatches(unique(installs.map((n) => foldKey(n.clientKey))), (b) =>
        apps.findInstallationsByFoldedClientKeys(db, b),
      )
    ).map((r) => [foldKey(r.client_key), r]),
  );
  const current = new Map<string, { client_key: string; uninstalled_at: string | null }>();
  for (let i = 0; i < installs.length; i += 250)
    for (const r of await apps.findInstallationsOf(db, installs.slice(i, i + 250)))
      current.set(`${r.app_key} on ${r.site_id}`, r);
  installs.forEach((n, i) => {
    const path = `installations[${i}].clientKey`;
    const owner = keyOwners.get(foldKey(n.clientKey));
    if (owner && (owner.app_key !== n.app || owner.site_id !== n.site))
      problems.push({ path, message: 'already belongs to another installation' });
    else if (owner && owner.client_key !== n.clientKey)
      problems.push({ path, message: caseDiffers('clientKey', owner.client_key) });
    const installed = current.get(`${n.app} on ${n.site}`);
    if (
      installed &&
      installed.uninstalled_at === null &&
      foldKey(installed.client_key) !== foldKey(n.clientKey)
    )
      problems.push({
        path,
        message:
          `${n.app} is installed on ${n.site} with the clientKey "${installed.client_key}"; a clientKey ` +
          `is not replaced by import. Uninstall it first (custos uninstall ${installed.client_key}), ` +
          'then import the new clientKey to install the app again',
      });
  });
}
