import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAuditEvents } from '../../src/audit/audit.repository.js';
import { verifyAuditChain } from '../../src/audit/audit.verify.js';
import { findMemberIds } from '../../src/directory/site.repository.js';
import { consentClient, createTestApp, GMOI_TEXT, type TestApp } from '../helpers/app.js';
import { ADA, getAsInstallation, importExample, SECRETS, userUrl } from '../helpers/directory.js';
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

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

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

    const probes: Record<string, () => Promise<{ statusCode: number }>> = {
      healthz: () => t.app.inject('/healthz'),
      readyz: () => t.app.inject('/readyz'),
      'user (Connect JWT)': () => getAsInstallation(t, 'ts-acme-1', SECRETS.tsAcme, userUrl(ADA)),
    };
    for (const probe of Object.values(probes)) expect((await probe()).statusCode).toBe(200);
    const latencies: Record<string, number[]> = Object.fromEntries(Object.keys(probes).map((k) => [k, []]));
    const writes: number[] = [];

    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    let done = false;
    const importing = runCustos(['import', file], {
      DATABASE_URL: t.database.url,
      CUSTOS_SECRET_KEY: t.ctx.config.secretKey ?? '',
    }).finally(() => {
      done = true;
    });
    for (let round = 0; !done; round++) {
      for (const [name, probe] of Object.entries(probes)) {
        const started = performance.now();
        expect((await probe()).statusCode, name).toBe(200);
        latencies[name]?.push(performance.now() - started);
      }
      // Now and then a write, which must find its turn between the import's transactions.
      if (round % 20 === 0) {
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
      }
      await sleep(50);
    }
    loopDelay.disable();

    const result = await importing;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`accounts: ${ACCOUNTS} created, 0 updated, 0 unchanged`);
    for (const [name, values] of Object.entries(latencies)) {
      expect(values.length, name).toBeGreaterThan(10);
      expect(median(values), name).toBeLessThan(50);
      expect(Math.max(...values), name).toBeLessThan(1000);
    }
    expect(loopDelay.max / 1e6).toBeLessThan(1000);
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
