import { type Kysely, sql } from 'kysely';

// Frozen: this file must never import application code.
//
// One directory object per identity, whatever its spelling: app keys, installation
// clientKeys and OAuth client ids are unique without regard to case (an index on lower()),
// and stored site URLs and organization domains are rewritten in canonical form.

const FOLDED_KEYS: [table: string, column: string, index: string][] = [
  ['apps', 'key', 'apps_key_folded_uq'],
  ['installations', 'client_key', 'installations_client_key_folded_uq'],
  ['oauth_clients', 'client_id', 'oauth_clients_client_id_folded_uq'],
];

/** The site URL canonical form as of this migration: lowercase scheme and host, no default port, root dot or trailing slash. */
function canonicalUrl(input: string): string | undefined {
  try {
    const url = new URL(input);
    url.hostname = url.hostname.toLowerCase().replace(/\.$/, '');
    return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
  } catch {
    return undefined;
  }
}

export async function up(db: Kysely<any>): Promise<void> {
  for (const [table, column, index] of FOLDED_KEYS) {
    const clashes = await db
      .selectFrom(table)
      .select(sql<string>`lower(${sql.ref(column)})`.as('folded'))
      .groupBy(sql`lower(${sql.ref(column)})`)
      .having(sql`count(*)`, '>', 1)
      .execute();
    if (clashes.length > 0)
      throw new Error(
        `${table}.${column} holds values that differ only in case (${clashes
          .map((c) => c.folded)
          .join(', ')}); Custos now treats them as one. Keep one of each before upgrading.`,
      );
    await db.schema
      .createIndex(index)
      .on(table)
      .unique()
      .expression(sql`lower(${sql.ref(column)})`)
      .execute();
  }

  // Rewrites a stored value only where its canonical form is free: two rows that already
  // name the same site (or domain) stay as they are, and an import of either is refused
  // with "already belongs to another site" rather than merged.
  const siteRows = await db.selectFrom('sites').select(['id', 'url']).execute();
  const urls = new Set(siteRows.map((r) => r.url as string));
  for (const row of siteRows) {
    const canonical = canonicalUrl(row.url);
    if (canonical === undefined || canonical === row.url || urls.has(canonical)) continue;
    await db.updateTable('sites').set({ url: canonical }).where('id', '=', row.id).execute();
    urls.delete(row.url);
    urls.add(canonical);
  }
  const domainRows = await db.selectFrom('organization_domains').select('domain').execute();
  const domains = new Set(domainRows.map((r) => r.domain as string));
  for (const { domain } of domainRows) {
    const canonical = domain.toLowerCase().replace(/\.$/, '');
    if (canonical === domain || domains.has(canonical)) continue;
    await db
      .updateTable('organization_domains')
      .set({ domain: canonical })
      .where('domain', '=', domain)
      .execute();
    domains.delete(domain);
    domains.add(canonical);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const [, , index] of FOLDED_KEYS) await db.schema.dropIndex(index).execute();
}
