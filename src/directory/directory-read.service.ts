import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { normalizeEmail } from '../shared/email.js';
import { type Account, accountFromRow, foldName } from './account.model.js';
import * as accounts from './account.repository.js';
import * as apps from './app.repository.js';
import * as sites from './site.repository.js';

/*
 * The directory as other domains read it. Functions over the database or the caller's own
 * transaction (so a read can sit inside the caller's change), answering in the directory's
 * shapes, never its rows: the tables stay the directory's to change.
 */

/** What an app may learn of an account's state, without its PD. */
export interface AccountState {
  accountId: string;
  closed: boolean;
  pdUpdatedAt: string;
}

/** An app as the access programme sees it. */
export interface AppSummary {
  key: string;
  storesPersonalData: boolean;
}

export async function findAccount(db: Kysely<DB>, accountId: string): Promise<Account | undefined> {
  const row = await accounts.findAccountRow(db, accountId);
  return row && accountFromRow(row);
}

/**
 * The name of an organization as people know it; undefined for an unknown id or a blank
 * name, where the caller shows the id instead.
 */
export async function findOrganizationName(
  db: Kysely<DB>,
  organizationId: string,
): Promise<string | undefined> {
  return (await sites.findOrganization(db, organizationId))?.name.trim() || undefined;
}

/**
 * Accounts among `accountIds` that are members of at least one of `siteIds`: the only
 * accounts an app installed on those sites may learn anything about. One indexed query.
 */
export async function listMemberAccounts(
  db: Kysely<DB>,
  accountIds: string[],
  siteIds: readonly string[],
): Promise<Account[]> {
  return (await accounts.findMemberAccountRows(db, accountIds, siteIds)).map(accountFromRow);
}

const toState = (r: { account_id: string; status: string; pd_updated_at: string }): AccountState => ({
  accountId: r.account_id,
  closed: r.status === 'closed',
  pdUpdatedAt: r.pd_updated_at,
});

/** The states of the member accounts among `accountIds` (see listMemberAccounts), reading no PD. */
export async function listMemberAccountStates(
  db: Kysely<DB>,
  accountIds: string[],
  siteIds: readonly string[],
): Promise<AccountState[]> {
  return (await accounts.findMemberAccountStateRows(db, accountIds, siteIds)).map(toState);
}

/** The states of the accounts among `accountIds` that exist, wherever they are members. */
export async function listAccountStates(db: Kysely<DB>, accountIds: string[]): Promise<AccountState[]> {
  return (await accounts.findAccountStateRows(db, accountIds)).map(toState);
}

/**
 * For each account, one live installation of `appKey` through which it is visible (it is a
 * member of that installation's site, among `siteIds`): what an Email API disclosure is
 * recorded against.
 */
export async function listDisclosureInstallations(
  db: Kysely<DB>,
  appKey: string,
  accountIds: string[],
  siteIds: readonly string[],
): Promise<{ accountId: string; installationId: string }[]> {
  const rows = await apps.findDisclosureInstallations(db, appKey, accountIds, siteIds);
  return rows.map((r) => ({ accountId: r.account_id, installationId: r.installation_id }));
}

/** The live installations that see the account: on the sites where it is a member. */
export async function listInstallationsSeeing(
  db: Kysely<DB>,
  accountId: string,
): Promise<{ appKey: string; siteId: string }[]> {
  const rows = await apps.findInstallationsSeeing(db, accountId);
  return rows.map((r) => ({ appKey: r.app_key, siteId: r.site_id }));
}

/** The apps among `appKeys` that have a webhook endpoint (so they can be told of changes), by key. */
export function listAppKeysWithWebhook(db: Kysely<DB>, appKeys: string[]): Promise<string[]> {
  return apps.findAppKeysWithWebhook(db, appKeys);
}

export async function findAppSummary(db: Kysely<DB>, appKey: string): Promise<AppSummary | undefined> {
  const app = await apps.findApp(db, appKey);
  return app && { key: app.key, storesPersonalData: app.stores_personal_data === 1 };
}

/** An app as a person sees it in their privacy centre. */
export interface AppProfile {
  key: string;
  name: string;
  vendor: string;
  privacyPolicyUrl: string | null;
  termsUrl: string | null;
}

/** The apps among `appKeys` that exist, by name. */
export async function listAppProfiles(db: Kysely<DB>, appKeys: string[]): Promise<AppProfile[]> {
  const rows = await apps.listAppProfileRows(db, [...new Set(appKeys)]);
  return rows.map((r) => ({
    key: r.key,
    name: r.name,
    vendor: r.vendor,
    privacyPolicyUrl: r.privacy_policy_url,
    termsUrl: r.terms_url,
  }));
}

/** An app's OAuth client as user grants (authorization code) see it. */
export interface GrantClient {
  clientId: string;
  appKey: string;
  appName: string;
  vendor: string;
  privacyPolicyUrl: string | null;
  /** The scrypt hash of the client secret (crypto/password-hash.ts). */
  secretHash: string;
  /** The app scopes the client may be granted (client credentials and user grants alike). */
  scopes: string[];
  /** Registered redirect URIs, matched exactly; none: the app cannot ask for user grants. */
  redirectUris: string[];
}

export async function findGrantClient(db: Kysely<DB>, clientId: string): Promise<GrantClient | undefined> {
  const row = await apps.findOAuthClient(db, clientId);
  return (
    row && {
      clientId: row.client_id,
      appKey: row.app_key,
      appName: row.name,
      vendor: row.vendor,
      privacyPolicyUrl: row.privacy_policy_url,
      secretHash: row.secret_hash,
      scopes: JSON.parse(row.scopes) as string[],
      redirectUris: JSON.parse(row.redirect_uris) as string[],
    }
  );
}

/** Sites by id, for naming the sites an app's grant reaches. */
export async function listSites(
  db: Kysely<DB>,
  siteIds: readonly string[],
): Promise<{ id: string; url: string }[]> {
  return apps.findSitesByIds(db, siteIds);
}

/** Sites the app is installed on now: the only sites it may read. */
export function listInstalledSiteIds(db: Kysely<DB>, appKey: string): Promise<string[]> {
  return apps.findInstalledSiteIds(db, appKey);
}

/** The names of the apps among `appKeys`, by key (an unknown key is left out). */
export async function listAppNames(db: Kysely<DB>, appKeys: string[]): Promise<Map<string, string>> {
  const rows = await apps.findAppNames(db, [...new Set(appKeys)]);
  return new Map(rows.map((r) => [r.key, r.name]));
}

/**
 * The member accounts of `siteIds` that `query` names exactly: by email (compared in its
 * normalized form) when it looks like one, else by public name folded by foldName. Each
 * with whether its email matched, so the caller can apply the email's visibility.
 */
export async function listMemberAccountsMatching(
  db: Kysely<DB>,
  query: string,
  siteIds: readonly string[],
  limit: number,
): Promise<{ account: Account; byEmail: boolean; byName: boolean }[]> {
  const email = query.includes('@') ? normalizeEmail(query) : undefined;
  const foldedName = foldName(query.trim());
  const rows = await accounts.findMemberAccountRowsMatching(db, { email, foldedName }, siteIds, limit);
  return rows.map((row) => ({
    account: accountFromRow(row),
    byEmail: email !== undefined && row.email === email,
    byName: row.nickname_folded === foldedName,
  }));
}
