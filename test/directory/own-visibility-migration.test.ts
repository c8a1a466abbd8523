import { describe, expect, it } from 'vitest';
import { createMigrator, migrateToLatest } from '../../src/db/migrator.js';
import { databasesMigratedTo } from '../helpers/migrations.js';

const now = new Date().toISOString();

/** A database migrated up to the release before the person's own visibility choices were kept. */
const earlierDatabase = databasesMigratedTo('20261201-0020-compact-receipts');

describe('the own-visibility migration', () => {
  it("fills in each account's chosen fields from the privacy centre's audit entries, and goes down", async () => {
    const { db } = await earlierDatabase();
    const account = (account_id: string) => ({
      account_id,
      account_type: 'atlassian',
      status: 'active',
      visibility: '{"email":"public"}',
      created_at: now,
      updated_at: now,
      pd_updated_at: now,
    });
    await db
      .insertInto('accounts')
      .values([account('chooser'), account('untouched'), account('by-operator')])
      .execute();
    let n = 0;
    const entry = (actor: [string, string], action: string, accountId: string, details: object) => {
      const hash = Buffer.alloc(32, ++n);
      return {
        at: now,
        actor_type: actor[0],
        actor_id: actor[1],
        action,
        app_key: null,
        installation_id: null,
        account_id: accountId,
        details: JSON.stringify(details),
        prev_hash: hash as never,
        hash: hash as never,
      };
    };
    await db
      .insertInto('audit_events')
      .values([
        entry(['account', 'chooser'], 'account.visibility-changed', 'chooser', {
          email: 'public',
          appsNotified: 1,
        }),
        entry(['account', 'chooser'], 'account.visibility-changed', 'chooser', {
          name: 'private',
          email: 'private',
          appsNotified: 0,
        }),
        entry(['account', 'chooser'], 'account.session-ended', 'chooser', { others: 1 }),
        // Not the person's own choice: left to the import.
        entry(['operator', 'test'], 'account.visibility-changed', 'by-operator', { email: 'public' }),
      ])
      .execute();

    await migrateToLatest(db);
    const chosen = Object.fromEntries(
      (await db.selectFrom('accounts').select(['account_id', 'visibility_chosen']).execute()).map((r) => [
        r.account_id,
        JSON.parse(r.visibility_chosen),
      ]),
    );
    expect(chosen).toEqual({ chooser: ['email', 'name'], untouched: [], 'by-operator': [] });

    expect((await createMigrator(db).migrateTo('20261201-0020-compact-receipts')).error).toBeUndefined();
    const columns = (await db.introspection.getTables()).find((table) => table.name === 'accounts')?.columns;
    expect(columns?.map((c) => c.name)).toContain('visibility');
    expect(columns?.map((c) => c.name)).not.toContain('visibility_chosen');
  });
});
