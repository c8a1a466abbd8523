import { describe, expect, it } from 'vitest';
import { createMigrator, migrateToLatest } from '../../src/db/migrator.js';
import { databasesMigratedTo } from '../helpers/migrations.js';

const BEFORE = '20261202-0022-own-visibility';
const now = new Date().toISOString();

/** A database of the release that kept one restriction row per account. */
const earlierDatabase = databasesMigratedTo(BEFORE);

const account = (account_id: string) => ({
  account_id,
  account_type: 'atlassian',
  status: 'active',
  visibility: '{}',
  created_at: now,
  updated_at: now,
  pd_updated_at: now,
});

const rows = (db: Awaited<ReturnType<typeof earlierDatabase>>['db']) =>
  db.selectFrom('account_restrictions').selectAll().orderBy('account_id').orderBy('kind').execute();

describe('restrictions keyed by account and kind (migration 20261203-0023-restriction-kinds)', () => {
  it('keeps every row, lets one account hold both kinds, and goes down only when none does', async () => {
    const { db } = await earlierDatabase();
    await db
      .insertInto('accounts')
      .values([account('restricted'), account('erasing')])
      .execute();
    await db
      .insertInto('account_restrictions')
      .values([
        { account_id: 'restricted', kind: 'restricted', request_id: 'dsr_1', since: now },
        { account_id: 'erasing', kind: 'erasure-pending', request_id: 'dsr_2', since: now },
      ])
      .execute();
    // The earlier table holds one row per account.
    await expect(
      db
        .insertInto('account_restrictions')
        .values({ account_id: 'restricted', kind: 'erasure-pending', request_id: 'dsr_3', since: now })
        .execute(),
    ).rejects.toThrow();
    const before = await rows(db);

    await migrateToLatest(db);
    expect(await rows(db)).toEqual(before);
    await db
      .insertInto('account_restrictions')
      .values({ account_id: 'restricted', kind: 'erasure-pending', request_id: 'dsr_3', since: now })
      .execute();
    // The same kind twice for one account is still refused.
    await expect(
      db
        .insertInto('account_restrictions')
        .values({ account_id: 'erasing', kind: 'erasure-pending', request_id: 'dsr_4', since: now })
        .execute(),
    ).rejects.toThrow();
    // A row's account must exist, as before.
    await expect(
      db
        .insertInto('account_restrictions')
        .values({ account_id: 'nobody', kind: 'restricted', request_id: 'dsr_5', since: now })
        .execute(),
    ).rejects.toThrow();

    // Down refuses while an account holds both kinds, and changes nothing.
    const refused = await createMigrator(db).migrateTo(BEFORE);
    expect(String(refused.error)).toContain('is both restricted and pending erasure');
    expect(await rows(db)).toHaveLength(3);

    await db
      .deleteFrom('account_restrictions')
      .where('account_id', '=', 'restricted')
      .where('kind', '=', 'erasure-pending')
      .execute();
    expect((await createMigrator(db).migrateTo(BEFORE)).error).toBeUndefined();
    expect(await rows(db)).toEqual(before);
    await expect(
      db
        .insertInto('account_restrictions')
        .values({ account_id: 'restricted', kind: 'erasure-pending', request_id: 'dsr_3', since: now })
        .execute(),
    ).rejects.toThrow();
  });
});
