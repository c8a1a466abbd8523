import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAccountEvents } from '../../src/directory/account.repository.js';
import type { ImportFile } from '../../src/directory/import.schemas.js';
import { ImportValidationError } from '../../src/directory/import.validate.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { ADA, adminClient, exampleDirectory, importExample, OPERATOR } from '../helpers/directory.js';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

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
    expect(first.accounts).toEqual({ created: 4, updated: 0, unchanged: 0 });
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
    expect(summary.accounts).toEqual({ created: 0, updated: 1, unchanged: 3 });
    const after = await t.ctx.directory.getAccount(ADA);
    expect(after.pdUpdatedAt > before.pdUpdatedAt).toBe(true);
    expect((await listAccountEvents(t.ctx.database.db, ADA)).map((e) => e.type)).toEqual([
      'account.created',
      'account.updated',
    ]);
    await importExample(t);
  });

  it('reveals a generated webhook secret once', async () => {
    const first = await t.ctx.directory.showApp('com.vendor.timesheets', { revealSecret: true });
    expect(first.webhookSecret).toMatch(/^whsec_/);
    const second = await t.ctx.directory.showApp('com.vendor.timesheets', { revealSecret: true });
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

  describe('admin API', () => {
    it('imports with an admin token, answering with the summary', async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/admin/directory/import',
        headers: { authorization: await adminClient(t) },
        payload: exampleDirectory(),
      });
      expect(res.statusCode).toBe(200);
      expect(res.json().accounts).toEqual({ created: 0, updated: 0, unchanged: 4 });
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
      const { createToken } = await import('../../src/auth/api-token.service.js');
      const { token } = await createToken(t.ctx.database, {
        email: 'm@x.test',
        scopes: ['manage:consent-hub-consent'],
      });
      const { basic } = await import('../helpers/app.js');
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
      ...process.env,
      DATABASE_URL: t.database.url,
      CUSTOS_SECRET_KEY: t.ctx.config.secretKey,
      CUSTOS_AUTO_MIGRATE: 'true',
    };
    const run = promisify(execFile);
    const cli = ['--import', 'tsx', 'src/cli.ts'];
    const { stdout } = await run(process.execPath, [...cli, 'import', good], { env });
    expect(stdout).toContain('accounts: 0 created, 0 updated, 4 unchanged');
    const failure = await run(process.execPath, [...cli, 'import', bad], { env }).catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 1 });
    expect((failure as { stderr: string }).stderr).toContain('accounts[0].accountId');
    const wrongKey = { ...env, CUSTOS_SECRET_KEY: Buffer.alloc(32, 7).toString('base64') };
    const refusedKey = await run(process.execPath, [...cli, 'import', good], { env: wrongKey }).catch(
      (e: unknown) => e,
    );
    expect((refusedKey as { stderr: string }).stderr).toContain('CUSTOS_SECRET_KEY');
  });
});
