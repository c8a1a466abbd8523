import { describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../src/db/migrator.js';
import { databasesMigratedTo } from '../helpers/migrations.js';

const now = new Date().toISOString();

/** A database migrated up to the release before one spelling per identity. */
const legacyDatabase = databasesMigratedTo('20261124-0006-audit-checkpoints');

describe('the directory identities migration', () => {
  it('rewrites stored site URLs and domains in canonical form, leaving rows that would collide', async () => {
    const db = await legacyDatabase();
    const site = (id: string, url: string) => ({ id, url, created_at: now, updated_at: now });
    await db.db
      .insertInto('sites')
      .values([
        site('upper', 'HTTPS://UPPER.EXAMPLE.NET/'),
        site('port', 'https://port.example.net:443'),
        site('twin-a', 'https://twin.example.net/'),
        site('twin-b', 'https://twin.example.net'),
      ])
      .execute();
    await db.db
      .insertInto('organizations')
      .values({ id: 'acme', name: 'Acme', created_at: now, updated_at: now })
      .execute();
    await db.db
      .insertInto('organization_domains')
      .values([
        { domain: 'acme.test.', organization_id: 'acme' },
        { domain: 'ACME.EXAMPLE', organization_id: 'acme' },
      ])
      .execute();

    await migrateToLatest(db.db);
    const urls = Object.fromEntries(
      (await db.db.selectFrom('sites').select(['id', 'url']).execute()).map((s) => [s.id, s.url]),
    );
    expect(urls).toEqual({
      upper: 'https://upper.example.net',
      port: 'https://port.example.net',
      // Two rows for one site already: neither is merged away; an import of either is refused.
      'twin-a': 'https://twin.example.net/',
      'twin-b': 'https://twin.example.net',
    });
    const domains = await db.db
      .selectFrom('organization_domains')
      .select('domain')
      .orderBy('domain')
      .execute();
    expect(domains.map((d) => d.domain)).toEqual(['acme.example', 'acme.test']);
  });

  it('stops, naming them, at stored keys that differ only in case', async () => {
    const db = await legacyDatabase();
    const app = (key: string) => ({
      key,
      name: key,
      vendor: 'V',
      stores_personal_data: 0,
      created_at: now,
      updated_at: now,
    });
    await db.db
      .insertInto('apps')
      .values([app('com.vendor.x'), app('COM.Vendor.X')])
      .execute();
    await expect(migrateToLatest(db.db)).rejects.toThrow(
      /apps\.key holds values that differ only in case \(com\.vendor\.x\)/,
    );
  });
});
