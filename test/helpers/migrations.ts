import { afterEach, expect } from 'vitest';
import { type Database, openDatabase } from '../../src/db/dialect.js';
import { createMigrator } from '../../src/db/migrator.js';
import { createTestDatabase, type TestDatabase } from './database.js';

/**
 * For a migration's tests: a function that opens a fresh database migrated up to `migration`
 * (the release before the one under test); each is closed and dropped after its test.
 */
export function databasesMigratedTo(migration: string): () => Promise<Database> {
  const opened: [TestDatabase, Database][] = [];
  afterEach(async () => {
    for (const [database, db] of opened.splice(0)) {
      await db.close();
      await database.drop();
    }
  });
  return async () => {
    const database = await createTestDatabase();
    const db = openDatabase(database.url);
    opened.push([database, db]);
    expect((await createMigrator(db.db).migrateTo(migration)).error).toBeUndefined();
    return db;
  };
}
