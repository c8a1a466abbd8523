import { type Kysely, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createMigrator, migrateToLatest } from '../../src/db/migrator.js';
import { foldName } from '../../src/directory/account.model.js';
import { databasesMigratedTo } from '../helpers/migrations.js';

const now = new Date().toISOString();
const MIGRATION = '20261203-0024-nickname-folded';
const BEFORE = '20261202-0022-own-visibility';

/** A database migrated up to the release before the folded public name was stored. */
const earlierDatabase = databasesMigratedTo(BEFORE);

// biome-ignore lint/suspicious/noExplicitAny: the schema of an earlier release
async function indexesOfAccounts(db: Kysely<any>, engine: string): Promise<string[]> {
  const { rows } =
    engine === 'sqlite'
      ? await sql<{ name: string }>`SELECT name FROM sqlite_schema
          WHERE type = 'index' AND tbl_name = 'accounts' AND sql IS NOT NULL`.execute(db)
      : await sql<{ name: string }>`SELECT indexname AS name FROM pg_indexes
          WHERE tablename = 'accounts'`.execute(db);
  return rows.map((r) => r.name).sort();
}

describe('the nickname-folded migration', () => {
  it('folds every stored public name in pages, indexes the folded column in place of lower(nickname), and goes down', async () => {
    const { db, engine } = await earlierDatabase();
    const account = (account_id: string, nickname: string | null) => ({
      account_id,
      account_type: 'atlassian',
      status: nickname === null ? 'closed' : 'active',
      nickname,
      visibility: '{}',
      created_at: now,
      updated_at: now,
      pd_updated_at: now,
    });
    const names: Record<string, string | null> = {
      emile: 'ÉMILE Zoë',
      'emile-nfd': 'E\u0301mile Zoe\u0308',
      juergen: 'Jürgen Straße',
      odysseus: 'ΟΔΥΣΣΕΥΣ',
      ada: 'Ada',
      closed: null,
    };
    // More than a page of the migration's, so that it has to go on past the first.
    // Some beyond the first page are names lower() folds otherwise: the pages after it count.
    const many = Array.from({ length: 1500 }, (_, i) =>
      account(`p-${String(i).padStart(4, '0')}`, i % 300 === 250 ? `Ärger Øster ${i}` : `Person ${i}`),
    );
    for (let i = 0; i < many.length; i += 250)
      await db
        .insertInto('accounts')
        .values(many.slice(i, i + 250))
        .execute();
    await db
      .insertInto('accounts')
      .values(Object.entries(names).map(([id, nickname]) => account(id, nickname)))
      .execute();
    const before = await indexesOfAccounts(db, engine);
    expect(before).toContain('accounts_nickname_folded_idx');

    await migrateToLatest(db);
    const rows = await db
      .selectFrom('accounts')
      .select(['account_id', 'nickname', 'nickname_folded'])
      .execute();
    const folded = Object.fromEntries(rows.map((r) => [r.account_id, r.nickname_folded]));
    expect(folded).toMatchObject({
      emile: 'émile zoë',
      'emile-nfd': 'émile zoë',
      juergen: 'jürgen strasse',
      odysseus: 'οδυσσευς',
      ada: 'ada',
      closed: null,
      'p-0000': 'person 0',
      'p-1499': 'person 1499',
      'p-1450': 'ärger øster 1450',
    });
    // The frozen copy folds as the application does.
    for (const row of rows)
      expect(row.nickname_folded).toBe(row.nickname === null ? null : foldName(row.nickname));
    const after = await indexesOfAccounts(db, engine);
    expect(after).toContain('accounts_nickname_folded_column_idx');
    expect(after).not.toContain('accounts_nickname_folded_idx');

    expect((await createMigrator(db).migrateTo(BEFORE)).error).toBeUndefined();
    const columns = (await db.introspection.getTables()).find((table) => table.name === 'accounts')?.columns;
    expect(columns?.map((c) => c.name)).toContain('nickname');
    expect(columns?.map((c) => c.name)).not.toContain('nickname_folded');
    expect(await indexesOfAccounts(db, engine)).toEqual(before);
    // And up again, as a release rolled back and forward would.
    expect((await createMigrator(db).migrateTo(MIGRATION)).error).toBeUndefined();
  });
});
