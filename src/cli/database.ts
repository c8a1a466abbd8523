import type { Config } from '../config.js';
import { type Database, openDatabase } from '../db/dialect.js';
import { hasPendingMigrations, migrateToLatest } from '../db/migrator.js';

/** Opens the database for one operator command, migrating it first where `serve` would. */
export async function withDatabase<T>(config: Config, fn: (database: Database) => Promise<T>): Promise<T> {
  const database = openDatabase(config.databaseUrl, { pgPoolSize: 2 });
  try {
    if (config.autoMigrate) await migrateToLatest(database.db);
    else if (await hasPendingMigrations(database.db)) {
      throw new Error('The database has pending migrations: run `custos migrate` first');
    }
    return await fn(database);
  } finally {
    await database.close();
  }
}
