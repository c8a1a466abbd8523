import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOnAllowList } from '../../src/access/access.repository.js';
import { type Database, openDatabase } from '../../src/db/dialect.js';
import { createMigrator, migrateToLatest } from '../../src/db/migrator.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let database: TestDatabase;
let db: Database;

beforeAll(async () => {
  database = await createTestDatabase();
  db = openDatabase(database.url);
});
afterAll(async () => {
  await db.close();
  await database.drop();
});

describe('the access migration', () => {
  it('turns apps on the interim allow list into approved requests, then drops the flag (one truth)', async () => {
    const result = await createMigrator(db.db).migrateTo('20261124-0003-webhooks');
    expect(result.error).toBeUndefined();
    const now = new Date().toISOString();
    const app = (key: string, approved: number) => ({
      key,
      name: key,
      vendor: 'Vendor',
      stores_personal_data: 0,
      email_api_approved: approved,
      created_at: now,
      updated_at: now,
    });
    await (db.db as unknown as Kysely<{ apps: ReturnType<typeof app> }>)
      .insertInto('apps')
      .values([app('com.vendor.approved', 1), app('com.vendor.plain', 0)])
      .execute();

    await migrateToLatest(db.db);
    expect(await isOnAllowList(db.db, 'com.vendor.approved')).toBe(true);
    expect(await isOnAllowList(db.db, 'com.vendor.plain')).toBe(false);
    const columns = (await db.db.introspection.getTables()).find((t) => t.name === 'apps')?.columns ?? [];
    expect(columns.map((c) => c.name)).not.toContain('email_api_approved');
    const useCases = await db.db.selectFrom('access_use_cases').select('id').execute();
    expect(useCases).toHaveLength(11);
  });
});
