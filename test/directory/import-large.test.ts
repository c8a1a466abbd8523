import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAuditEvents } from '../../src/audit/audit.repository.js';
import { verifyAuditChain } from '../../src/audit/audit.verify.js';
import { findMemberIds } from '../../src/directory/site.repository.js';
import { consentClient, createTestApp, GMOI_TEXT, type TestApp } from '../helpers/app.js';
import { ADA, getAsInstallation, importExample, SECRETS, userUrl } from '../helpers/directory.js';
import { expectPromptAnswers, type Probe, probeUntil } from '../helpers/latency.js';
import { runCustos } from '../helpers/process.js';

const ACCOUNTS = 60_000;
let t: TestApp;
let authorization: string;
let dir: string;

beforeAll(async () => {
  t = await createTestApp();
  await importExample(t);
  ({ authorization } = await consentClient(t));
  dir = mkdtempSync(join(tmpdir(), 'custos-import-large-'));
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a 60,000-account import by another process', () => {
  it('never holds the server up, and leaves the directory complete', async () => {
    const accounts = Array.from({ length: ACCOUNTS }, (_, i) => ({
      accountId: `bulk-${i}`,
      accountType: 'atlassian',
      email: `bulk${i}@bulk.test`,
      name: `Bulk ${i}`,
    }));
    const file = join(dir, 'directory.json');
    writeFileSync(
      file,
      JSON.stringify({
        accounts,
        sites: [{ id: 'bulk', url: 'https://bulk.example.net', members: accounts.map((a) => a.accountId) }],
      }),
    );

    const probes: Record<string, Probe> = {
      healthz: () => t.app.inject('/healthz'),
      readyz: () => t.app.inject('/readyz'),
      'user (Connect JWT)': () => getAsInstallation(t, 'ts-acme-1', SECRETS.tsAcme, userUrl(ADA)),
    };
    for (const probe of Object.values(probes)) expect((await probe()).statusCode).toBe(200);
    const writes: number[] = [];
    let done = false;
    const importing = runCustos(['import', file], {
      DATABASE_URL: t.database.url,
      CUSTOS_SECRET_KEY: t.ctx.config.secretKey ?? '',
    }).finally(() => {
      done = true;
    });
    const measured = await probeUntil(
      probes,
      () => done,
      // Now and then a write, which must find its turn between the import's transactions.
      async (round) => {
        if (round % 20 !== 0) return;
        const started = performance.now();
        const res = await t.app.inject({
          method: 'POST',
          url: '/consent-hub/consent',
          headers: { authorization },
          payload: {
            email: `during-${round}@example.org`,
            locale: 'DE',
            consents: [{ key: 'generalMarketingOptIn', granted: true, displayedText: GMOI_TEXT }],
          },
        });
        expect(res.statusCode).toBe(202);
        writes.push(performance.now() - started);
      },
    );

    const result = await importing;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`accounts: ${ACCOUNTS} created, 0 updated, 0 unchanged`);
    // Piped, the progress is plain lines: the start, about one a second, the end.
    const records = ACCOUNTS + 1;
    const progress = result.stdout.split('\n').filter((line) => line.startsWith('import: '));
    expect(progress[0]).toBe(`import: 0/${records} records`);
    expect(progress.at(-1)).toBe(`import: ${records}/${records} records`);
    for (const line of progress) expect(line).toMatch(/^import: \d+\/\d+ records$/);
    expectPromptAnswers(measured, 10);
    expect(writes.length).toBeGreaterThan(0);
    expect(Math.max(...writes)).toBeLessThan(5000);

    const stored = await t.ctx.database.db
      .selectFrom('accounts')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('account_id', 'like', 'bulk-%')
      .executeTakeFirstOrThrow();
    expect(Number(stored.n)).toBe(ACCOUNTS);
    expect(await findMemberIds(t.ctx.database.db, 'bulk')).toHaveLength(ACCOUNTS);
    // Bounded transactions, each with its entry: many parts, all of one import by the CLI.
    const parts = (await listAuditEvents(t.ctx.database.db, { action: 'directory.imported' })).filter(
      (e) => e.actor_id === 'cli',
    );
    expect(parts.length).toBeGreaterThan(100);
    expect(new Set(parts.map((e) => JSON.parse(e.details).importId)).size).toBe(1);
    expect((await verifyAuditChain(t.ctx.database.db)).broken).toBeUndefined();
  }, 180_000);
});
