import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAuditEvents } from '../../src/audit/audit.repository.js';
import { DirectoryService } from '../../src/directory/directory.service.js';
import type { ImportFile } from '../../src/directory/import.schemas.js';
import { accountCopies } from '../../src/dsr/dsr.service.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { ACTIVE_ID, ADA, exampleDirectory, importExample } from '../helpers/directory.js';
import { runCustos } from '../helpers/process.js';
import { until } from '../helpers/wait.js';
import { WebClient } from '../helpers/web.js';

let t: TestApp;
let dir: string;

beforeAll(async () => {
  t = await createTestApp();
  await importExample(t);
  dir = mkdtempSync(join(tmpdir(), 'custos-own-visibility-'));
});
afterAll(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The person chooses in the privacy centre, as a browser posts the form. */
async function choose(accountId: string, form: Record<string, string>) {
  const web = new WebClient(t);
  await web.signIn(accountId);
  expect((await web.get('/privacy')).statusCode).toBe(200);
  const saved = await web.post('/privacy/profile', form);
  expect(saved.statusCode).toBe(303);
  expect(saved.headers.location).toBe('/privacy?done=saved');
}

/** The example directory with `visibility` replaced for one account. */
function fileWith(accountId: string, visibility: NonNullable<ImportFile['accounts']>[number]['visibility']) {
  const file = exampleDirectory();
  const account = file.accounts?.find((a) => a.accountId === accountId);
  if (!account) throw new Error('fixture');
  account.visibility = visibility;
  return file;
}

describe("an import and a person's own visibility choices", () => {
  it('keeps the fields the person chose, and sets the others the file names', async () => {
    // Ada's file entry: email private, name public. She makes her email public herself.
    await choose(ADA, { email: 'public' });
    expect((await t.ctx.directory.getAccount(ADA)).visibility.email).toBe('public');

    // The operator's next file says email private again, and also hides her job title.
    const summary = await importExample(t, fileWith(ADA, { email: 'private', jobTitle: 'private' }));
    const ada = await t.ctx.directory.getAccount(ADA);
    expect(ada.visibility.email).toBe('public');
    // A field she never chose follows the file.
    expect(ada.visibility.jobTitle).toBe('private');
    expect(summary.accounts).toEqual({ created: 0, updated: 1, unchanged: 3, ownVisibilityKept: 1 });

    // The count is on the import's audit entries too (one per part), without personal data.
    const entries = (await listAuditEvents(t.ctx.database.db, { action: 'directory.imported' })).map(
      (e) => JSON.parse(e.details) as Record<string, number | string>,
    );
    const parts = entries.filter((d) => d.importId === entries.at(-1)?.importId);
    expect(parts.reduce((n, d) => n + Number(d['accounts.ownVisibilityKept']), 0)).toBe(1);
    for (const part of parts) expect(JSON.stringify(part)).not.toMatch(/acme\.test|Ada/);
  });

  it('an omitted visibility does not reset a chosen field to its default either', async () => {
    const summary = await importExample(t, fileWith(ADA, undefined));
    const ada = await t.ctx.directory.getAccount(ADA);
    expect(ada.visibility.email).toBe('public');
    expect(ada.visibility.jobTitle).toBe('public');
    expect(summary.accounts.ownVisibilityKept).toBe(1);
  });

  it('a file that agrees with the choice keeps nothing, and a second run changes nothing', async () => {
    const file = fileWith(ADA, { email: 'public' });
    await importExample(t, file);
    const again = await importExample(t, file);
    expect(again.accounts).toEqual({ created: 0, updated: 0, unchanged: 4, ownVisibilityKept: 0 });
  });

  it('a choice stays the person’s also when it equals what the file said before', async () => {
    // Grace's file entry says name private. She makes it public, then private again herself.
    await choose(ACTIVE_ID, { name: 'public' });
    await choose(ACTIVE_ID, { name: 'private' });
    const summary = await importExample(t, fileWith(ACTIVE_ID, { name: 'public' }));
    expect((await t.ctx.directory.getAccount(ACTIVE_ID)).visibility.name).toBe('private');
    // Grace's name, and Ada's email from before (the file says private again).
    expect(summary.accounts.ownVisibilityKept).toBe(2);
  });

  it('a new account takes the visibility of the file', async () => {
    const summary = await importExample(t, {
      accounts: [
        {
          accountId: 'own-visibility-new',
          accountType: 'customer',
          nickname: 'newcomer',
          visibility: { email: 'public', name: 'private' },
        },
      ],
    });
    expect(summary.accounts).toEqual({ created: 1, updated: 0, unchanged: 0, ownVisibilityKept: 0 });
    expect((await t.ctx.directory.getAccount('own-visibility-new')).visibility).toMatchObject({
      email: 'public',
      name: 'private',
    });
  });

  it("a person's change that commits while the import writes the account is kept", async () => {
    const racer = (department: 'public' | 'organization'): ImportFile => ({
      accounts: [
        {
          accountId: 'own-visibility-race',
          accountType: 'customer',
          nickname: 'racer',
          visibility: { department },
        },
      ],
    });
    await importExample(t, racer('public'));
    // The privacy centre's own change, held open after its write until `release`.
    let reached = false;
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow = new DirectoryService(t.ctx.database, t.ctx.secrets, t.ctx.audit, {
      allowList: t.ctx.access,
      accountEvents: {
        announceAccountEvent: async () => {
          reached = true;
          await held;
          return 0;
        },
        announceLifecycleEvent: async () => {},
      },
      grants: t.ctx.grants,
      sessions: t.ctx.sessions,
      copies: accountCopies,
    });
    const person = slow.setVisibility(
      'own-visibility-race',
      { department: 'private' },
      {
        type: 'account',
        id: 'own-visibility-race',
      },
    );
    await until(() => reached, { message: "the person's change to be written" });
    const importing = importExample(t, racer('organization'));
    if (t.ctx.database.engine === 'postgres')
      // PostgreSQL: the import read the account before the change committed, and its write
      // waits for the person's row lock; it must then see the choice and keep it.
      await until(
        async () =>
          Number(
            (
              await sql<{ n: number }>`select count(*) as n from pg_stat_activity
                where datname = current_database() and wait_event_type = 'Lock'`.execute(t.ctx.database.db)
            ).rows[0]?.n,
          ) > 0,
        { message: "the import's write to wait for the person's" },
      );
    // SQLite: one writer; the import waits for the person's transaction before it reads.
    else await sleep(200);
    release();
    expect(await person).toEqual(['department']);
    const summary = await importing;
    expect((await t.ctx.directory.getAccount('own-visibility-race')).visibility.department).toBe('private');
    expect(summary.accounts).toEqual({ created: 0, updated: 0, unchanged: 1, ownVisibilityKept: 1 });
  });

  it('custos import says how many accounts kept their own choice', async () => {
    const directory = fileWith(ADA, { email: 'private' });
    await importExample(t, directory);
    // Run again from the command line: nothing changes, and Ada's choice is kept again.
    const file = join(dir, 'directory.json');
    writeFileSync(file, JSON.stringify(directory));
    const imported = await runCustos(['import', file], {
      DATABASE_URL: t.database.url,
      CUSTOS_SECRET_KEY: t.ctx.config.secretKey as string,
    });
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toContain('accounts: 0 created, 0 updated, 4 unchanged');
    expect(imported.stdout).toContain(
      "visibility: the person's own choices kept over the file's on 1 account\n",
    );
    expect(imported.stdout).not.toContain(ADA);
    expect((await t.ctx.directory.getAccount(ADA)).visibility.email).toBe('public');
  });
});
