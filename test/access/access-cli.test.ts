import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { listAuditEvents } from '../../src/audit/audit.repository.js';
import { accessRequest } from '../helpers/access.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { ADA, getAsInstallation, importExample, SECRETS } from '../helpers/directory.js';
import { runCustos } from '../helpers/process.js';

// Each test starts several CLI processes; each start takes seconds on a busy machine.
vi.setConfig({ testTimeout: 120_000 });

let t: TestApp;
let env: Record<string, string>;
const dir = mkdtempSync(join(tmpdir(), 'custos-access-'));
const custos = (...args: string[]) => runCustos(args, env);
const addUseCase = (id: string) =>
  custos(
    'access',
    'use-case',
    'add',
    id,
    '--decision',
    'auto',
    '--category',
    'transactional email',
    '--functionality',
    'Page the on-call user about an incident',
  );

function requestFile(name: string, body: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(body));
  return file;
}

beforeAll(async () => {
  t = await createTestApp();
  env = { DATABASE_URL: t.database.url, CUSTOS_SECRET_KEY: t.ctx.config.secretKey as string };
  await importExample(t);
});
afterAll(() => t.close());

describe('custos access', () => {
  it('files a request from a file, lists the queue, approves with a reason and revokes', async () => {
    const file = requestFile('other.json', accessRequest('com.vendor.mailer', { useCases: ['other'] }));
    const filed = await custos('access', 'request', '--file', file);
    expect(filed.code).toBe(0);
    const { id, status } = JSON.parse(filed.stdout);
    expect(status).toBe('in-review');
    expect((await custos('access', 'list', '--status', 'in-review')).stdout).toContain(id);

    expect((await custos('access', 'approve', id)).code).not.toBe(0); // --reason is required
    const approved = await custos('access', 'approve', id, '--reason', 'Checked the use case');
    expect(approved.stdout).toContain(`${id}  com.vendor.mailer  approved`);
    const mailer = () =>
      getAsInstallation(t, 'mailer-acme', SECRETS.mailerAcme, `/rest/api/3/user/email?accountId=${ADA}`);
    expect((await mailer()).statusCode).toBe(200);
    expect((await custos('app', 'show', 'com.vendor.mailer')).stdout).toContain('read:email-address:custos');

    expect((await custos('access', 'reject', id, '--reason', 'too late')).stderr).toContain(
      'cannot become rejected',
    );
    const revoked = await custos('access', 'revoke', 'com.vendor.mailer', '--reason', 'Shown in the UI');
    expect(revoked.stdout).toContain('revoked');
    expect((await mailer()).statusCode).toBe(400);

    const actors = (await listAuditEvents(t.ctx.database.db, {})).filter((e) =>
      e.action.startsWith('access.'),
    );
    expect(actors.map((e) => [e.action, e.actor_type])).toEqual([
      ['access.submitted', 'operator'],
      ['access.in-review', 'system'],
      ['access.approved', 'operator'],
      ['access.revoked', 'operator'],
    ]);
  });

  it('names every bad field of a request file and writes nothing', async () => {
    const { description: _d, ...rest } = accessRequest('com.vendor.mailer');
    const res = await custos(
      'access',
      'request',
      '--file',
      requestFile('bad.json', { ...rest, storesPersonalData: 'no' }),
    );
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('description');
    expect(res.stderr).toContain('storesPersonalData');
  });

  it('rejects a never-approved use case with its reason', async () => {
    const file = requestFile(
      'renewal.json',
      accessRequest('com.vendor.mailer', { useCases: ['renewal-reminders'] }),
    );
    expect(JSON.parse((await custos('access', 'request', '--file', file)).stdout).status).toBe(
      'auto-rejected',
    );
    expect((await custos('access', 'list', '--status', 'auto-rejected')).stdout).toContain(
      'renewal-reminders',
    );
  });

  it('extends the use-case catalogue, and refuses the same id twice', async () => {
    expect((await addUseCase('incident-paging')).code).toBe(0);
    expect((await custos('access', 'use-case', 'list')).stdout).toContain('incident-paging  auto');
    const body = accessRequest('com.vendor.mailer', { useCases: ['incident-paging'] });
    const filed = await custos('access', 'request', '--file', requestFile('paging.json', body));
    expect(JSON.parse(filed.stdout).status).toBe('auto-approved');
    expect((await addUseCase('incident-paging')).code).toBe(1);
  });
});
