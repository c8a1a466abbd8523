import { type AuditEntry, AuditLog } from '../audit/audit.service.js';
import type { Config } from '../config.js';
import { type Database, openDatabase } from '../db/dialect.js';
import { ensureMigrated } from '../db/migrator.js';

/** Opens the database for one operator command, migrating it first where `serve` would. */
export async function withDatabase<T>(config: Config, fn: (database: Database) => Promise<T>): Promise<T> {
  const database = openDatabase(config.databaseUrl, { pgPoolSize: 2, lockWaitMs: config.sqliteLockWaitMs });
  try {
    await ensureMigrated(database.db, config.autoMigrate);
    return await fn(database);
  } finally {
    await database.close();
  }
}

/**
 * Records an operator command that has no audit entry of its own (every admin action is on the log:
 * docs/audit-log.md#what-is-logged). Appended once the command has succeeded: a refused command
 * changed nothing.
 */
export function auditOperator(database: Database, entry: Omit<AuditEntry, 'actor'>): Promise<void> {
  return new AuditLog(database).append([{ actor: { type: 'operator', id: 'cli' }, ...entry }]);
}
