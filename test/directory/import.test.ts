import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KyselyPlugin, SelectQueryNode } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAuditEvents } from '../../src/audit/audit.repository.js';
import { verifyAuditChain } from '../../src/audit/audit.verify.js';
import { type Database, isUniqueViolation } from '../../src/db/dialect.js';
import { listAccountEvents } from '../../src/directory/account.repository.js';
import type { ImportAccount, ImportApp, ImportFile } from '../../src/directory/import.schemas.js';
import { DirectoryImporter } from '../../src/directory/import.service.js';
import { ImportValidationError } from '../../src/directory/import.validate.js';
import { findMemberIds } from '../../src/directory/site.repository.js';
import { AccountEventPropagation } from '../../src/propagation/propagation.service.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import {
  ADA,
  adminClient,
  exampleDirectory,
  getAsInstallation,
  importExample,
  OPERATOR,
  SECRETS,
  userUrl,
} from '../helpers/directory.js';
import { runCustos } from '../helpers/process.js';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

/** What the context gives its importer: changes told to apps, recorded in the holdings register. */
const ports = () => ({ accountEvents: new AccountEventPropagation(t.ctx.compliance), grants: t.ctx.grants });

async function counts() {
  const db = t.ctx.database.db;
  const n = async (
    table: 'organizations' | 'accounts' | 'sites' | 'apps' | 'installations' | 'site_members',
  ) =>
    Number(
      (
        await db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  return {
    organizations: await n('organizations'),
    accounts: await n('accounts'),
    sites: await n('sites'),
    members: await n('site_members'),
    apps: await n('apps'),
    installations: await n('installations'),
  };
}

async function refused(file: unknown) {
  const before = await counts();
  const error = await t.ctx.importer.importDirectory(file, OPERATOR).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ImportValidationError);
  expect(await counts()).toEqual(before);
  return (error as ImportValidationError).problems;
}

describe('directory import', () => {
  it('loads the example, then a second import of the same file changes nothing', async () => {
    const first = await importExample(t);
    expect(first.accounts).toEqual({ created: 4, updated: 0, unchanged: 0, ownVisibilityKept: 0 });
    expect(first.installations.created).toBe(4);
    const ada = await t.ctx.database.db
      .selectFrom('accounts')
      .selectAll()
      .where('account_id', '=', ADA)
      .executeTakeFirstOrThrow();
    const again = await importExample(t);
    for (const kind of Object.values(again)) expect(kind).toMatchObject({ created: 0, updated: 0 });
    const after = await t.ctx.database.db
      .selectFrom('accounts')
      .selectAll()
      .where('account_id', '=', ADA)
      .executeTakeFirstOrThrow();
    expect(after.pd_updated_at).toBe(ada.pd_updated_at);
    expect((await listAccountEvents(t.ctx.database.db, ADA)).map((e) => e.type)).toEqual(['account.created']);
  });

  it('stores defaults for omitted visibility entries (email private) and secrets encrypted, never in plaintext', async () => {
    const ada = await t.ctx.directory.getAccount(ADA);
    expect(ada.visibility).toMatchObject({ email: 'private', name: 'public', jobTitle: 'public' });
    const installation = await t.ctx.database.db
      .selectFrom('installations')
      .selectAll()
      .where('client_key', '=', 'ts-acme-1')
      .executeTakeFirstOrThrow();
    expect(installation.shared_secret_enc).toMatch(/^v1\./);
    expect(installation.shared_secret_enc).not.toContain('ts-acme-shared-secret');
    const client = await t.ctx.database.db
      .selectFrom('oauth_clients')
      .selectAll()
      .where('client_id', '=', 'timesheets')
      .executeTakeFirstOrThrow();
    expect(client.secret_hash).toMatch(/^scrypt\$/);
  });

  it('records a PD change with a new time and an account.updated event', async () => {
    const before = await t.ctx.directory.getAccount(ADA);
    const file = exampleDirectory();
    const ada = file.accounts?.[0];
    if (!ada) throw new Error('fixture');
    ada.jobTitle = 'Analyst';
    const summary = await importExample(t, file);
    expect(summary.accounts).toEqual({ created: 0, updated: 1, unchanged: 3, ownVisibilityKept: 0 });
    const after = await t.ctx.directory.getAccount(ADA);
    expect(after.pdUpdatedAt > before.pdUpdatedAt).toBe(true);
    expect((await listAccountEvents(t.ctx.database.db, ADA)).map((e) => e.type)).toEqual([
      'account.created',
      'account.updated',
    ]);
    await importExample(t);
  });

  it('reveals a generated webhook secret once', async () => {
    const first = await t.ctx.directory.showApp('com.vendor.timesheets', OPERATOR);
    expect(first.webhookSecret).toMatch(/^whsec_/);
    const second = await t.ctx.directory.showApp('com.vendor.timesheets', OPERATOR);
    expect(second.webhookSecret).toBeUndefined();
    expect(second.webhookSecretShownAt).toBe(first.webhookSecretShownAt);
  });

  describe('refuses the whole file, writing nothing, and names every bad record', () => {
    const withAccount = (patch: Record<string, unknown>): unknown => ({
      accounts: [{ accountId: 'new-1', accountType: 'atlassian', ...patch }],
    });

    it.each([
      [
        'an accountId with a forbidden character',
        withAccount({ accountId: 'bad id' }),
        'accounts[0].accountId',
      ],
      [
        'an accountId over 128 characters',
        withAccount({ accountId: 'a'.repeat(129) }),
        'accounts[0].accountId',
      ],
      ['the reserved id unknown', withAccount({ accountId: 'unknown' }), 'accounts[0].accountId'],
      ['an unknown account type', withAccount({ accountType: 'robot' }), 'accounts[0].accountType'],
      [
        'an unknown visibility',
        withAccount({ visibility: { email: 'friends' } }),
        'accounts[0].visibility.email',
      ],
      [
        'a visibility for the public name',
        withAccount({ visibility: { nickname: 'private' } }),
        'accounts[0].visibility.nickname',
      ],
      ['an invalid email', withAccount({ email: 'not-an-email' }), 'accounts[0].email'],
      ['an unknown property', withAccount({ password: 'x' }), 'accounts[0].password'],
      ['a dangling organization', withAccount({ organization: 'initech' }), 'accounts[0].organization'],
      ['an email owned by another account', withAccount({ email: 'ada@acme.test' }), 'accounts[0].email'],
      [
        'a dangling site member',
        { sites: [{ id: 's1', url: 'https://s1.example.net', members: ['ghost-1'] }] },
        'sites[0].members[0]',
      ],
      [
        'an installation of an unknown app',
        {
          installations: [
            { app: 'com.nope', site: 'acme-prod', clientKey: 'k-1', sharedSecret: 'x'.repeat(32) },
          ],
        },
        'installations[0].app',
      ],
      [
        'an installation on an unknown site',
        {
          installations: [
            { app: 'com.vendor.mailer', site: 'nowhere', clientKey: 'k-1', sharedSecret: 'x'.repeat(32) },
          ],
        },
        'installations[0].site',
      ],
      [
        'a clientKey owned by another installation',
        {
          installations: [
            {
              app: 'com.vendor.mailer',
              site: 'globex-prod',
              clientKey: 'ts-acme-1',
              sharedSecret: 'x'.repeat(32),
            },
          ],
        },
        'installations[0].clientKey',
      ],
      [
        'a shared secret too short for HS256',
        {
          installations: [
            { app: 'com.vendor.mailer', site: 'acme-prod', clientKey: 'k-1', sharedSecret: 'short' },
          ],
        },
        'installations[0].sharedSecret',
      ],
      [
        'an unknown OAuth scope',
        {
          apps: [
            {
              key: 'com.x',
              name: 'X',
              vendor: 'V',
              storesPersonalData: false,
              oauth: { clientId: 'x', clientSecret: 'y'.repeat(32), scopes: ['admin:custos'] },
            },
          ],
        },
        'apps[0].oauth.scopes[0]',
      ],
      ['a file that is not an object', [1, 2], 'file'],
    ])('%s', async (_name, file, path) => {
      const problems = await refused(file);
      expect(problems.map((p) => p.path)).toContain(path);
    });

    it('reports duplicates and every bad record, and keeps the valid ones out too', async () => {
      const file: ImportFile = {
        organizations: [
          { id: 'o1', name: 'One' },
          { id: 'o1', name: 'One again' },
        ],
        accounts: [
          { accountId: 'dup-1', accountType: 'atlassian', email: 'dup@x.test' },
          { accountId: 'dup-1', accountType: 'atlassian' },
          { accountId: 'dup-2', accountType: 'atlassian', email: 'DUP@x.test' },
          { accountId: 'fine-1', accountType: 'atlassian' },
        ],
        sites: [{ id: 'acme-dup', url: 'https://acme.example.net' }],
      };
      const problems = await refused(file);
      expect(problems.map((p) => p.path)).toEqual(
        expect.arrayContaining([
          'organizations[1].id',
          'accounts[1].accountId',
          'accounts[2].email',
          'sites[0].url',
        ]),
      );
      expect(
        await t.ctx.database.db
          .selectFrom('accounts')
          .select('account_id')
          .where('account_id', '=', 'fine-1')
          .execute(),
      ).toEqual([]);
    });
  });

  describe('one object per identity, whatever its spelling', () => {
    it.each([
      'HTTPS://ACME.EXAMPLE.NET',
      'https://acme.example.net/',
      'https://acme.example.net:443',
      'https://acme.example.net.',
      'https://ACME.example.net.:443/',
    ])('%s is the URL of the stored site acme-prod', async (url) => {
      const problems = await refused({ sites: [{ id: 'acme-again', url }] });
      expect(problems).toEqual([{ path: 'sites[0].url', message: 'already belongs to another site' }]);
    });

    it('reports two spellings of one site URL in a file as a duplicate', async () => {
      const problems = await refused({
        sites: [
          { id: 'twin-1', url: 'https://twin.example.net' },
          { id: 'twin-2', url: 'HTTPS://Twin.Example.NET:443/' },
        ],
      });
      expect(problems.map((p) => p.path)).toEqual(['sites[1].url']);
    });

    it('stores a site URL in its canonical form; another spelling of it changes nothing', async () => {
      await importExample(t, { sites: [{ id: 'canon', url: 'HTTPS://Canon.Example.NET:443/Wiki/' }] });
      const [site] = await t.ctx.database.db
        .selectFrom('sites')
        .selectAll()
        .where('id', '=', 'canon')
        .execute();
      expect(site?.url).toBe('https://canon.example.net/Wiki');
      const again = await importExample(t, {
        sites: [{ id: 'canon', url: 'https://canon.example.net./Wiki' }],
      });
      expect(again.sites).toEqual({ created: 0, updated: 0, unchanged: 1 });
    });

    it.each([
      'https://q.example.net/?tenant=1',
      'https://q.example.net/#top',
      'https://user:pw@q.example.net',
    ])('refuses %s as a site URL', async (url) => {
      const problems = await refused({ sites: [{ id: 'q', url }] });
      expect(problems).toEqual([
        { path: 'sites[0].url', message: 'must be a base URL, without user, query or fragment' },
      ]);
    });

    it('treats a domain written with its root dot, or in capitals, as the same domain', async () => {
      const problems = await refused({
        organizations: [{ id: 'initech', name: 'Initech', domains: ['ACME.TEST.'] }],
      });
      expect(problems).toEqual([
        { path: 'organizations[0].domains[0]', message: 'already belongs to another organization' },
      ]);
    });

    const app = (key: string, oauth?: ImportApp['oauth']): ImportApp => ({
      key,
      name: 'New',
      vendor: 'Vendor',
      storesPersonalData: false,
      ...(oauth && { oauth }),
    });
    const timesheets = () => {
      const found = exampleDirectory().apps?.[0];
      if (!found?.oauth) throw new Error('fixture');
      return found as ImportApp & { oauth: NonNullable<ImportApp['oauth']> };
    };
    const secret = 'z'.repeat(32);

    it.each<[string, unknown, string, string]>([
      ['an app key', { apps: [app('COM.VENDOR.MAILER')] }, 'apps[0].key', 'app key "com.vendor.mailer"'],
      [
        'an app key within the file',
        { apps: [app('com.new.one'), app('COM.New.One')] },
        'apps[1].key',
        'duplicate app key, compared without regard to case (also at apps[0].key)',
      ],
      [
        "an app's own OAuth client id",
        { apps: [{ ...timesheets(), oauth: { ...timesheets().oauth, clientId: 'TimeSheets' } }] },
        'apps[0].oauth.clientId',
        'OAuth clientId "timesheets"',
      ],
      [
        "another app's OAuth client id",
        { apps: [app('com.new.two', { clientId: 'MAILER', clientSecret: secret, scopes: ['read:user'] })] },
        'apps[0].oauth.clientId',
        'already belongs to another app',
      ],
      [
        "an installation's own clientKey",
        {
          installations: [
            {
              app: 'com.vendor.timesheets',
              site: 'acme-prod',
              clientKey: 'TS-ACME-1',
              sharedSecret: SECRETS.tsAcme,
            },
          ],
        },
        'installations[0].clientKey',
        'clientKey "ts-acme-1"',
      ],
      [
        "another installation's clientKey",
        {
          installations: [
            { app: 'com.vendor.mailer', site: 'globex-prod', clientKey: 'Ts-Globex-1', sharedSecret: secret },
          ],
        },
        'installations[0].clientKey',
        'already belongs to another installation',
      ],
    ])('refuses a case variant of %s, naming the field', async (_name, file, path, message) => {
      const problems = await refused(file);
      expect(problems.map((p) => p.path)).toEqual([path]);
      expect(problems[0]?.message).toContain(message);
    });

    it('is enforced by the database too: a unique index on the lowercased key', async () => {
      const db = t.ctx.database.db;
      const now = new Date().toISOString();
      const row = { name: 'X', vendor: 'V', stores_personal_data: 0, created_at: now, updated_at: now };
      const insertApp = db
        .insertInto('apps')
        .values({ key: 'COM.VENDOR.MAILER', ...row })
        .execute();
      await expect(insertApp).rejects.toSatisfy(isUniqueViolation);
      const client = {
        app_key: 'com.vendor.reporter',
        secret_hash: 'x',
        scopes: '[]',
        created_at: now,
        updated_at: now,
      };
      const insertClient = db
        .insertInto('oauth_clients')
        .values({ client_id: 'Mailer', ...client })
        .execute();
      await expect(insertClient).rejects.toSatisfy(isUniqueViolation);
    });

    it('keeps the clientKey of an installed app × site: a new one needs an uninstall first', async () => {
      const replacement: ImportFile = {
        installations: [
          {
            app: 'com.vendor.timesheets',
            site: 'acme-prod',
            clientKey: 'ts-acme-2',
            sharedSecret: SECRETS.tsAcme,
          },
        ],
      };
      const problems = await refused(replacement);
      expect(problems.map((p) => p.path)).toEqual(['installations[0].clientKey']);
      expect(problems[0]?.message).toContain('custos uninstall ts-acme-1');
      expect((await getAsInstallation(t, 'ts-acme-1', SECRETS.tsAcme, userUrl(ADA))).statusCode).toBe(200);

      await t.ctx.directory.uninstall('ts-acme-1', OPERATOR);
      expect((await importExample(t, replacement)).installations).toEqual({
        created: 0,
        updated: 1,
        unchanged: 0,
      });
      expect((await getAsInstallation(t, 'ts-acme-2', SECRETS.tsAcme, userUrl(ADA))).statusCode).toBe(200);
      expect((await getAsInstallation(t, 'ts-acme-1', SECRETS.tsAcme, userUrl(ADA))).statusCode).toBe(401);

      // Back to the example's clientKey, the same way.
      await t.ctx.directory.uninstall('ts-acme-2', OPERATOR);
      await importExample(t);
      expect((await getAsInstallation(t, 'ts-acme-1', SECRETS.tsAcme, userUrl(ADA))).statusCode).toBe(200);
    });
  });

  describe('writes in bounded transactions', () => {
    const accountsNamed = (prefix: string, n: number): ImportAccount[] =>
      Array.from({ length: n }, (_, i) => ({
        accountId: `${prefix}-${i}`,
        accountType: 'atlassian' as const,
        email: `${prefix}${i}@bulk.test`,
        nickname: `${prefix} ${i}`,
      }));

    async function importEntries(importId: string) {
      return (await listAuditEvents(t.ctx.database.db, { action: 'directory.imported' }))
        .map((e) => JSON.parse(e.details) as Record<string, number | string>)
        .filter((d) => d.importId === importId);
    }

    it('writes a large file in several transactions, each with its audit entry', async () => {
      const members = accountsNamed('chunk', 1200);
      const summary = await importExample(t, {
        accounts: members,
        sites: [
          { id: 'chunk-site', url: 'https://chunk.example.net', members: members.map((a) => a.accountId) },
        ],
      });
      expect(summary.accounts).toEqual({ created: 1200, updated: 0, unchanged: 0, ownVisibilityKept: 0 });
      const [last] = (await listAuditEvents(t.ctx.database.db, { action: 'directory.imported' })).slice(-1);
      const entries = await importEntries(String(JSON.parse(last?.details ?? '{}').importId));
      expect(entries.length).toBeGreaterThanOrEqual(4);
      expect(entries.map((e) => e.part)).toEqual(entries.map((_, i) => i + 1));
      const sum = (key: string) => entries.reduce((n, e) => n + Number(e[key]), 0);
      expect(sum('accounts.created')).toBe(1200);
      expect(sum('sites.created')).toBe(1);
      expect(sum('members.added')).toBe(1200);
      expect((await verifyAuditChain(t.ctx.database.db)).broken).toBeUndefined();

      // A membership change adds before it removes, in batches too; the result is the file's.
      const kept = members.slice(600).map((a) => a.accountId);
      await importExample(t, {
        sites: [{ id: 'chunk-site', url: 'https://chunk.example.net', members: kept }],
      });
      expect((await findMemberIds(t.ctx.database.db, 'chunk-site')).sort()).toEqual([...kept].sort());
    });

    it('an interrupted import is completed by running the same file again', async () => {
      const file: ImportFile = { accounts: accountsNamed('resume', 1500) };
      let transactions = 0;
      const real = t.ctx.database;
      // The third transaction never commits, as if the process had been killed there.
      const dying: Database = {
        ...real,
        writeTransaction: (fn, options) =>
          ++transactions === 3 ? Promise.reject(new Error('killed')) : real.writeTransaction(fn, options),
      };
      const interrupted = new DirectoryImporter(dying, t.ctx.secrets, t.ctx.audit, ports());
      await expect(interrupted.importDirectory(file, OPERATOR)).rejects.toThrow('killed');
      const countResume = async (table: 'accounts' | 'account_events') =>
        (
          await t.ctx.database.db
            .selectFrom(table)
            .select('account_id')
            .where('account_id', 'like', 'resume-%')
            .execute()
        ).length;
      const written = await countResume('accounts');
      expect(written).toBeGreaterThan(0);
      expect(written).toBeLessThan(1500);

      const summary = await importExample(t, file);
      expect(summary.accounts).toEqual({
        created: 1500 - written,
        updated: 0,
        unchanged: written,
        ownVisibilityKept: 0,
      });
      expect(await countResume('accounts')).toBe(1500);
      expect(await countResume('account_events')).toBe(1500);
    });

    it('names a value another writer took between the check and the write, like validation does', async () => {
      const real = t.ctx.database;
      const now = new Date().toISOString();
      let transactions = 0;
      // Another writer stores an account with the file's last new email once the first part is written.
      const raced: Database = {
        ...real,
        writeTransaction: async (fn, options) => {
          if (++transactions === 2)
            await real.db
              .insertInto('accounts')
              .values({
                account_id: 'raced-first',
                account_type: 'atlassian',
                status: 'active',
                email: 'raced@bulk.test',
                visibility: '{}',
                created_at: now,
                updated_at: now,
                pd_updated_at: now,
              })
              .execute();
          return real.writeTransaction(fn, options);
        },
      };
      const importer = new DirectoryImporter(raced, t.ctx.secrets, t.ctx.audit, ports());
      const file: ImportFile = {
        accounts: [
          ...accountsNamed('raced-filler', 1000),
          { accountId: 'raced-second', accountType: 'atlassian', email: 'raced@bulk.test' },
        ],
      };
      const error = await importer.importDirectory(file, OPERATOR).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ImportValidationError);
      expect((error as ImportValidationError).problems).toEqual([
        { path: 'accounts[1000].email', message: 'already belongs to another account' },
      ]);
      // The part before the race stays written, and the error says so.
      expect((error as ImportValidationError).partlyWritten).toBe(true);
    });

    it('never takes an email from an account outside the file that another writer stored after the check', async () => {
      const real = t.ctx.database;
      const now = new Date().toISOString();
      const lookups = new WeakSet<object>();
      let raced = false;
      let emailLookups = 0;
      // Another writer stores an account with the file's email right after the check has
      // looked the email up (the first read of accounts filtered by email), before the
      // writes read the stored holders again (the second).
      const racing: KyselyPlugin = {
        transformQuery: ({ node, queryId }) => {
          if (
            SelectQueryNode.is(node) &&
            JSON.stringify(node.from).includes('"accounts"') &&
            JSON.stringify(node.where ?? null).includes('"email"')
          ) {
            emailLookups += 1;
            lookups.add(queryId);
          }
          return node;
        },
        transformResult: async ({ queryId, result }) => {
          if (lookups.has(queryId) && !raced) {
            raced = true;
            const insert = real.db
              .insertInto('accounts')
              .values({
                account_id: 'outside-holder',
                account_type: 'atlassian',
                status: 'active',
                email: 'outside@race.test',
                visibility: '{}',
                created_at: now,
                updated_at: now,
                pd_updated_at: now,
              })
              .execute();
            // SQLite's one connection is this lookup's until its result is handed back; its
            // queue is first in, first out, so the insert is the next statement it runs.
            if (real.engine === 'postgres') await insert;
            else void insert;
          }
          return result;
        },
      };
      const importer = new DirectoryImporter(
        { ...real, db: real.db.withPlugin(racing) },
        t.ctx.secrets,
        t.ctx.audit,
        ports(),
      );
      const file: ImportFile = {
        accounts: [{ accountId: 'inside-taker', accountType: 'atlassian', email: 'outside@race.test' }],
      };
      const error = await importer.importDirectory(file, OPERATOR).catch((e: unknown) => e);
      expect(raced).toBe(true);
      // The check, then the writes' own read of the holders (and the check again after the
      // unique violation): had the insert come before the check, nothing would have raced.
      expect(emailLookups).toBeGreaterThanOrEqual(2);
      expect(error).toBeInstanceOf(ImportValidationError);
      expect((error as ImportValidationError).problems).toEqual([
        { path: 'accounts[0].email', message: 'already belongs to another account' },
      ]);
      expect((error as ImportValidationError).partlyWritten).toBe(false);
      // The account that held the email keeps it, and the file's account was not written.
      const holders = await t.ctx.database.db
        .selectFrom('accounts')
        .select(['account_id', 'email'])
        .where('account_id', 'in', ['outside-holder', 'inside-taker'])
        .execute();
      expect(holders).toEqual([{ account_id: 'outside-holder', email: 'outside@race.test' }]);
      expect(await listAccountEvents(t.ctx.database.db, 'outside-holder')).toEqual([]);
    });

    it('hands emails between accounts of one file, each change recorded', async () => {
      const [a, b] = accountsNamed('swap', 2) as [ImportAccount, ImportAccount];
      await importExample(t, { accounts: [a, b] });
      const summary = await importExample(t, {
        accounts: [
          { ...a, email: b.email },
          { ...b, email: a.email },
        ],
      });
      expect(summary.accounts).toEqual({ created: 0, updated: 2, unchanged: 0, ownVisibilityKept: 0 });
      expect((await t.ctx.directory.getAccount('swap-0')).profile.email).toBe(b.email);
      expect((await t.ctx.directory.getAccount('swap-1')).profile.email).toBe(a.email);
    });
  });

  describe('admin API', () => {
    it('imports with an admin token, answering with the summary', async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/admin/directory/import',
        headers: { authorization: await adminClient(t) },
        payload: exampleDirectory(),
      });
      expect(res.statusCode).toBe(200);
      expect(res.json().accounts).toEqual({ created: 0, updated: 0, unchanged: 4, ownVisibilityKept: 0 });
    });

    it('answers 400 listing the bad records by path', async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/admin/directory/import',
        headers: { authorization: await adminClient(t) },
        payload: { accounts: [{ accountId: 'unknown', accountType: 'atlassian' }] },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ errorType: 'VALIDATION_FAILED', field: 'accounts[0].accountId' });
    });

    it('refuses callers without credentials (401) or without the admin scope (403)', async () => {
      const anonymous = await t.app.inject({ method: 'POST', url: '/admin/directory/import', payload: {} });
      expect(anonymous.statusCode).toBe(401);
      const { basic, createToken } = await import('../helpers/app.js');
      const { token } = await createToken(t, {
        email: 'm@x.test',
        scopes: ['manage:consent-hub-consent'],
      });
      const res = await t.app.inject({
        method: 'POST',
        url: '/admin/directory/import',
        headers: { authorization: basic('m@x.test', token) },
        payload: {},
      });
      expect(res.statusCode).toBe(403);
    });
  });

  it('custos import loads a file from the command line, and refuses a bad one listing the problems', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'custos-import-'));
    const good = join(dir, 'directory.json');
    const bad = join(dir, 'bad.json');
    writeFileSync(good, JSON.stringify(exampleDirectory()));
    writeFileSync(bad, JSON.stringify({ accounts: [{ accountId: 'bad id', accountType: 'atlassian' }] }));
    const env = {
      DATABASE_URL: t.database.url,
      CUSTOS_SECRET_KEY: t.ctx.config.secretKey as string,
      CUSTOS_AUTO_MIGRATE: 'true',
    };
    const imported = await runCustos(['import', good], env);
    expect(imported.code).toBe(0);
    expect(imported.stdout).toContain('accounts: 0 created, 0 updated, 4 unchanged');
    const failure = await runCustos(['import', bad], env);
    expect(failure.code).toBe(1);
    expect(failure.stderr).toContain('accounts[0].accountId');
    const refusedKey = await runCustos(['import', good], {
      ...env,
      CUSTOS_SECRET_KEY: Buffer.alloc(32, 7).toString('base64'),
    });
    expect(refusedKey.code).toBe(1);
    expect(refusedKey.stderr).toContain('CUSTOS_SECRET_KEY');
  });
});
