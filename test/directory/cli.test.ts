import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { listAuditEvents } from '../../src/audit/audit.repository.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { CLOSED_ID, exampleDirectory } from '../helpers/directory.js';
import { runCustos } from '../helpers/process.js';

// Each test starts several CLI processes; each start takes seconds on a busy machine.
vi.setConfig({ testTimeout: 120_000 });

let t: TestApp;
let custos: (...args: string[]) => Promise<string>;

beforeAll(async () => {
  t = await createTestApp();
  const env = { DATABASE_URL: t.database.url, CUSTOS_SECRET_KEY: t.ctx.config.secretKey as string };
  custos = async (...args) => {
    const result = await runCustos(args, env);
    expect(result.code, result.stderr).toBe(0);
    return result.stdout;
  };
  const file = join(mkdtempSync(join(tmpdir(), 'custos-cli-')), 'directory.json');
  writeFileSync(file, JSON.stringify(exampleDirectory()));
  await custos('import', file);
});
afterAll(() => t.close());

describe('operator commands', () => {
  it('app show prints a generated webhook secret once; account close is audited', async () => {
    const first = await custos('app', 'show', 'com.vendor.timesheets');
    expect(first).toMatch(/^whsec_/m);
    const second = await custos('app', 'show', 'com.vendor.timesheets');
    expect(second).not.toContain('whsec_');
    expect(second).toContain('already shown');

    expect(await custos('account', 'close', CLOSED_ID)).toContain(`Closed ${CLOSED_ID}`);
    expect((await t.ctx.directory.getAccount(CLOSED_ID)).active).toBe(false);
    const actions = (await listAuditEvents(t.ctx.database.db)).map((e) => [e.action, e.actor_type]);
    expect(actions).toEqual(expect.arrayContaining([['account.closed', 'operator']]));
  });
});
