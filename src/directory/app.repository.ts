import { type Insertable, type Kysely, sql, type Updateable } from 'kysely';
import { compiledQuery } from '../db/compiled.js';
import type { AppTable, DB, InstallationTable, OAuthClientTable } from '../db/schema.js';
import { credentialsChanged } from './credential-changes.js';

export function findApp(db: Kysely<DB>, key: string) {
  return db.selectFrom('apps').selectAll().where('key', '=', key).executeTakeFirst();
}

export function findAppNames(db: Kysely<DB>, keys: string[]) {
  if (keys.length === 0) return Promise.resolve([]);
  return db.selectFrom('apps').select(['key', 'name']).where('key', 'in', keys).execute();
}

export function findAppKeys(db: Kysely<DB>, keys: string[]) {
  if (keys.length === 0) return Promise.resolve([]);
  return db.selectFrom('apps').select('key').where('key', 'in', keys).execute();
}

/** Apps whose key equals one of `folded` without regard to case (served by the unique lower(key) index). */
export function findAppsByFoldedKeys(db: Kysely<DB>, folded: string[]) {
  if (folded.length === 0) return Promise.resolve([]);
  return db.selectFrom('apps').select('key').where(sql<string>`lower(key)`, 'in', folded).execute();
}

export async function insertApp(db: Kysely<DB>, row: Insertable<AppTable>) {
  await db.insertInto('apps').values(row).execute();
}

export async function updateApp(db: Kysely<DB>, key: string, changes: Updateable<AppTable>) {
  const result = await db.updateTable('apps').set(changes).where('key', '=', key).executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

const selectInstallationByClientKey = compiledQuery<
  DB,
  {
    id: string;
    app_key: string;
    site_id: string;
    client_key: string;
    shared_secret_enc: string;
    uninstalled_at: string | null;
  },
  [clientKey: string]
>((db) =>
  db
    .selectFrom('installations')
    .innerJoin('apps', 'apps.key', 'installations.app_key')
    .select([
      'installations.id',
      'installations.app_key',
      'installations.site_id',
      'installations.client_key',
      'installations.shared_secret_enc',
      'installations.uninstalled_at',
    ])
    .where('installations.client_key', '=', ''),
);

/** The installation a Connect JWT's `iss` names (on the path of every Connect call: compiled once). */
export async function findInstallationByClientKey(db: Kysely<DB>, clientKey: string) {
  return (await selectInstallationByClientKey(db, clientKey)).rows[0];
}

export function listInstallationsOf(db: Kysely<DB>, appKey: string) {
  return db
    .selectFrom('installations')
    .select(['client_key', 'site_id', 'installed_at', 'uninstalled_at'])
    .where('app_key', '=', appKey)
    .orderBy('installed_at')
    .orderBy('client_key')
    .execute();
}

/** Installations whose clientKey equals one of `folded` without regard to case. */
export function findInstallationsByFoldedClientKeys(db: Kysely<DB>, folded: string[]) {
  if (folded.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('installations')
    .select(['client_key', 'app_key', 'site_id'])
    .where(sql<string>`lower(client_key)`, 'in', folded)
    .execute();
}

/** The installations of these app × site pairs, installed or not. */
export function findInstallationsOf(db: Kysely<DB>, pairs: { app: string; site: string }[]) {
  if (pairs.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('installations')
    .select(['app_key', 'site_id', 'client_key', 'uninstalled_at'])
    .where((eb) =>
      eb(
        eb.refTuple('app_key', 'site_id'),
        'in',
        pairs.map((p) => eb.tuple(p.app, p.site)),
      ),
    )
    .execute();
}

export function findInstallation(db: Kysely<DB>, appKey: string, siteId: string) {
  return db
    .selectFrom('installations')
    .selectAll()
    .where('app_key', '=', appKey)
    .where('site_id', '=', siteId)
    .executeTakeFirst();
}

export async function insertInstallation(db: Kysely<DB>, row: Insertable<InstallationTable>) {
  credentialsChanged();
  await db.insertInto('installations').values(row).execute();
}

export async function updateInstallation(db: Kysely<DB>, id: string, changes: Updateable<InstallationTable>) {
  credentialsChanged();
  const result = await db.updateTable('installations').set(changes).where('id', '=', id).executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Live installations on the sites where the account is a member, by site. */
export function findInstallationsSeeing(db: Kysely<DB>, accountId: string) {
  return db
    .selectFrom('site_members')
    .innerJoin('installations', 'installations.site_id', 'site_members.site_id')
    .select(['installations.app_key', 'installations.site_id'])
    .where('site_members.account_id', '=', accountId)
    .where('installations.uninstalled_at', 'is', null)
    .orderBy('installations.site_id')
    .orderBy('installations.app_key')
    .execute();
}

/** The apps among `keys` that have a webhook endpoint, by key. */
export async function findAppKeysWithWebhook(db: Kysely<DB>, keys: string[]): Promise<string[]> {
  if (keys.length === 0) return [];
  const rows = await db
    .selectFrom('apps')
    .select('key')
    .where('key', 'in', keys)
    .where('webhook_url', 'is not', null)
    .orderBy('key')
    .execute();
  return rows.map((r) => r.key);
}

/** Sites on which the app is installed now: the only sites it may read (object-level authorization). */
const selectInstalledSiteIds = compiledQuery<DB, { site_id: string }, [appKey: string]>((db) =>
  db
    .selectFrom('installations')
    .select('site_id')
    .where('app_key', '=', '')
    .where('uninstalled_at', 'is', null),
);

export async function findInstalledSiteIds(db: Kysely<DB>, appKey: string): Promise<string[]> {
  return (await selectInstalledSiteIds(db, appKey)).rows.map((r) => r.site_id);
}

const selectOAuthClient = compiledQuery<
  DB,
  {
    client_id: string;
    app_key: string;
    secret_hash: string;
    scopes: string;
    redirect_uris: string;
    name: string;
    vendor: string;
    privacy_policy_url: string | null;
  },
  [clientId: string]
>((db) =>
  db
    .selectFrom('oauth_clients')
    .innerJoin('apps', 'apps.key', 'oauth_clients.app_key')
    .select([
      'oauth_clients.client_id',
      'oauth_clients.app_key',
      'oauth_clients.secret_hash',
      'oauth_clients.scopes',
      'oauth_clients.redirect_uris',
      'apps.name',
      'apps.vendor',
      'apps.privacy_policy_url',
    ])
    .where('oauth_clients.client_id', '=', ''),
);

/** An OAuth client with what its app shows people (user grants, src/grants, need the app's name). */
export async function findOAuthClient(db: Kysely<DB>, clientId: string) {
  return (await selectOAuthClient(db, clientId)).rows[0];
}

export function findOAuthClientsOf(db: Kysely<DB>, clientIds: string[], appKeys: string[]) {
  if (clientIds.length === 0 && appKeys.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('oauth_clients')
    .selectAll()
    .where((eb) =>
      eb.or([
        ...(clientIds.length ? [eb('client_id', 'in', clientIds)] : []),
        ...(appKeys.length ? [eb('app_key', 'in', appKeys)] : []),
      ]),
    )
    .execute();
}

/** OAuth clients whose client id equals one of `folded` without regard to case. */
export function findOAuthClientsByFoldedIds(db: Kysely<DB>, folded: string[]) {
  if (folded.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('oauth_clients')
    .select(['client_id', 'app_key'])
    .where(sql<string>`lower(client_id)`, 'in', folded)
    .execute();
}

export async function upsertOAuthClient(db: Kysely<DB>, row: Insertable<OAuthClientTable>) {
  credentialsChanged();
  await db.deleteFrom('oauth_clients').where('app_key', '=', row.app_key).execute();
  await db.insertInto('oauth_clients').values(row).execute();
}

export async function deleteOAuthClientOf(db: Kysely<DB>, appKey: string) {
  credentialsChanged();
  await db.deleteFrom('oauth_clients').where('app_key', '=', appKey).execute();
}

/**
 * For each account, one installation of `appKey` through which it is visible (the account
 * is a member of that installation's site, among `siteIds`): the installation an Email API
 * disclosure is recorded against.
 */
export function findDisclosureInstallations(
  db: Kysely<DB>,
  appKey: string,
  accountIds: string[],
  siteIds: readonly string[],
) {
  if (accountIds.length === 0 || siteIds.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('site_members')
    .innerJoin('installations', 'installations.site_id', 'site_members.site_id')
    .select(['site_members.account_id', 'installations.id as installation_id'])
    .where('installations.app_key', '=', appKey)
    .where('installations.uninstalled_at', 'is', null)
    .where('site_members.account_id', 'in', accountIds)
    .where('site_members.site_id', 'in', siteIds)
    .orderBy('installations.id')
    .execute();
}

/** What people are shown of apps: who makes them and where their privacy policy is. */
export function listAppProfileRows(db: Kysely<DB>, keys: string[]) {
  if (keys.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('apps')
    .select(['key', 'name', 'vendor', 'privacy_policy_url', 'terms_url'])
    .where('key', 'in', keys)
    .orderBy('name')
    .execute();
}

export function findSitesByIds(db: Kysely<DB>, siteIds: readonly string[]) {
  if (siteIds.length === 0) return Promise.resolve([]);
  return db.selectFrom('sites').select(['id', 'url']).where('id', 'in', siteIds).execute();
}
