import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

export function findOrganizationIds(db: Kysely<DB>, ids: string[]) {
  if (ids.length === 0) return Promise.resolve([]);
  return db.selectFrom('organizations').select('id').where('id', 'in', ids).execute();
}

export function findOrganization(db: Kysely<DB>, id: string) {
  return db.selectFrom('organizations').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findDomainOwners(db: Kysely<DB>, domains: string[]) {
  if (domains.length === 0) return Promise.resolve([]);
  return db.selectFrom('organization_domains').selectAll().where('domain', 'in', domains).execute();
}

export async function upsertOrganization(db: Kysely<DB>, row: { id: string; name: string }, now: string) {
  await db
    .insertInto('organizations')
    .values({ ...row, created_at: now, updated_at: now })
    .onConflict((oc) =>
      oc
        .column('id')
        .doUpdateSet({ name: row.name, updated_at: now })
        .where('organizations.name', '<>', row.name),
    )
    .execute();
}

export async function replaceDomains(db: Kysely<DB>, organizationId: string, domains: string[]) {
  await db.deleteFrom('organization_domains').where('organization_id', '=', organizationId).execute();
  if (domains.length === 0) return;
  await db
    .insertInto('organization_domains')
    .values(domains.map((domain) => ({ domain, organization_id: organizationId })))
    .execute();
}

export function findSites(db: Kysely<DB>, ids: string[]) {
  if (ids.length === 0) return Promise.resolve([]);
  return db.selectFrom('sites').select(['id', 'url']).where('id', 'in', ids).execute();
}

export function findSitesByUrls(db: Kysely<DB>, urls: string[]) {
  if (urls.length === 0) return Promise.resolve([]);
  return db.selectFrom('sites').select(['id', 'url']).where('url', 'in', urls).execute();
}

export async function upsertSite(db: Kysely<DB>, row: { id: string; url: string }, now: string) {
  await db
    .insertInto('sites')
    .values({ ...row, created_at: now, updated_at: now })
    .onConflict((oc) =>
      oc.column('id').doUpdateSet({ url: row.url, updated_at: now }).where('sites.url', '<>', row.url),
    )
    .execute();
}

/** Adds members (callers pass at most 500, under both engines' bound-parameter limits); existing ones stay. */
export async function addMembers(db: Kysely<DB>, siteId: string, accountIds: string[]) {
  if (accountIds.length === 0) return;
  await db
    .insertInto('site_members')
    .values(accountIds.map((account_id) => ({ site_id: siteId, account_id })))
    .onConflict((oc) => oc.columns(['site_id', 'account_id']).doNothing())
    .execute();
}

export async function removeMembers(db: Kysely<DB>, siteId: string, accountIds: string[]) {
  if (accountIds.length === 0) return;
  await db
    .deleteFrom('site_members')
    .where('site_id', '=', siteId)
    .where('account_id', 'in', accountIds)
    .execute();
}

export async function findMemberIds(db: Kysely<DB>, siteId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('site_members')
    .select('account_id')
    .where('site_id', '=', siteId)
    .execute();
  return rows.map((r) => r.account_id);
}
