import { type Kysely, type Migration, type MigrationResultSet, Migrator } from 'kysely';
import * as foundation from './migrations/20261124-0001-foundation.js';
import * as directory from './migrations/20261124-0002-directory.js';
import * as webhooks from './migrations/20261124-0003-webhooks.js';
import * as reporting from './migrations/20261124-0004-reporting.js';
import * as access from './migrations/20261124-0005-access.js';
import * as auditCheckpoints from './migrations/20261124-0006-audit-checkpoints.js';
import * as identities from './migrations/20261124-0007-directory-identities.js';
import * as jobs from './migrations/20261124-0008-jobs.js';
import * as people from './migrations/20261124-0009-people.js';

import * as signIn from './migrations/20261201-0010-sign-in.js';
import * as consoleIndexes from './migrations/20261201-0011-console.js';
import * as privacy from './migrations/20261201-0012-privacy.js';
import * as grants from './migrations/20261201-0013-grants.js';
import * as dataSubjectRequests from './migrations/20261201-0014-data-subject-requests.js';
import * as receipts from './migrations/20261201-0015-receipts.js';

import * as notifications from './migrations/20261201-0016-notifications.js';
import * as consentStorage from './migrations/20261201-0017-consent-storage.js';
import * as holdingsFillfactor from './migrations/20261201-0018-holdings-fillfactor.js';
import * as auditHashes from './migrations/20261201-0019-audit-hashes.js';
import * as compactReceipts from './migrations/20261201-0020-compact-receipts.js';
import * as oauthRecordsClient from './migrations/20261202-0021-oauth-records-client.js';
import * as ownVisibility from './migrations/20261202-0022-own-visibility.js';
import * as restrictionKinds from './migrations/20261203-0023-restriction-kinds.js';
import * as nicknameFolded from './migrations/20261203-0024-nickname-folded.js';

/**
 * The one migration set for both engines, listed statically so that the compiled build
 * carries them. Append new files here in order; never edit an applied migration.
 */
const migrations: Record<string, Migration> = {
  '20261124-0001-foundation': foundation,
  '20261124-0002-directory': directory,
  '20261124-0003-webhooks': webhooks,
  '20261124-0004-reporting': reporting,
  '20261124-0005-access': access,
  '20261124-0006-audit-checkpoints': auditCheckpoints,
  '20261124-0007-directory-identities': identities,
  '20261124-0008-jobs': jobs,
  '20261124-0009-people': people,
  '20261201-0010-sign-in': signIn,
  '20261201-0011-console': consoleIndexes,
  '20261201-0012-privacy': privacy,
  '20261201-0013-grants': grants,
  '20261201-0014-data-subject-requests': dataSubjectRequests,
  '20261201-0015-receipts': receipts,
  '20261201-0016-notifications': notifications,
  '20261201-0017-consent-storage': consentStorage,
  '20261201-0018-holdings-fillfactor': holdingsFillfactor,
  '20261201-0019-audit-hashes': auditHashes,
  '20261201-0020-compact-receipts': compactReceipts,
  '20261202-0021-oauth-records-client': oauthRecordsClient,
  '20261202-0022-own-visibility': ownVisibility,
  '20261203-0023-restriction-kinds': restrictionKinds,
  '20261203-0024-nickname-folded': nicknameFolded,
};

export function createMigrator(db: Kysely<any>): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => migrations } });
}

export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const result: MigrationResultSet = await createMigrator(db).migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error');
    throw new Error(`Migration ${failed?.migrationName ?? ''} failed: ${String(result.error)}`);
  }
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

export async function hasPendingMigrations(db: Kysely<any>): Promise<boolean> {
  const all = await createMigrator(db).getMigrations();
  return all.some((m) => m.executedAt === undefined);
}

/** Migrates when allowed to; otherwise refuses to run against a database that is behind the code. */
export async function ensureMigrated(db: Kysely<any>, autoMigrate: boolean): Promise<string[]> {
  if (autoMigrate) return migrateToLatest(db);
  if (await hasPendingMigrations(db)) {
    throw new Error(
      'The database has pending migrations: run `custos migrate` (or set CUSTOS_AUTO_MIGRATE=true)',
    );
  }
  return [];
}
