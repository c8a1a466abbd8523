import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consentClient, createTestApp, GMOI_TEXT, type TestApp, waitForApplied } from '../helpers/app.js';
import { testEngine } from '../helpers/database.js';
import { ADA, getAsInstallation, importExample, SECRETS, userUrl } from '../helpers/directory.js';
import { expectPromptAnswers, type Probe, probeUntil } from '../helpers/latency.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Another process takes the write lock (see lock-holder.ts) and holds it for `holdMs`.
 * Resolves once it holds it, with the moment it was taken and a promise of its exit.
 */
async function holdWriteLock(databaseUrl: string, holdMs: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/lock-holder.ts'], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: databaseUrl, HOLD_MS: String(holdMs) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('locked')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`the lock holder exited with ${code} before locking`)));
  });
  return { lockedAt: performance.now(), exited };
}

function postConsent(t: TestApp, authorization: string, providerId: string) {
  return t.app.inject({
    method: 'POST',
    url: '/consent-hub/consent',
    headers: { authorization },
    payload: {
      email: 'waiting@example.org',
      locale: 'DE',
      providerId,
      consents: [{ key: 'generalMarketingOptIn', granted: true, displayedText: GMOI_TEXT }],
    },
  });
}

describe('another process holding the write lock', () => {
  let t: TestApp;
  let authorization: string;

  beforeAll(async () => {
    t = await createTestApp();
    await importExample(t);
    ({ authorization } = await consentClient(t));
  });
  afterAll(() => t.close());

  it('leaves health, readiness and reads answering at once, and a write waits for the lock without freezing the process', async () => {
    const holdMs = 10_000;
    const probes: Record<string, Probe> = {
      healthz: () => t.app.inject('/healthz'),
      readyz: () => t.app.inject('/readyz'),
      'user (Connect JWT)': () => getAsInstallation(t, 'ts-acme-1', SECRETS.tsAcme, userUrl(ADA)),
      'consent-config (Basic)': () =>
        t.app.inject({
          method: 'POST',
          url: '/consent-hub/consent-config/get',
          headers: { authorization },
          payload: { email: 'waiting@example.org', userIp: '8.8.8.8' },
        }),
    };
    // Warm every path (JIT, caches, the token's last-used write) before measuring.
    for (const probe of Object.values(probes)) expect((await probe()).statusCode).toBe(200);

    const holder = await holdWriteLock(t.database.url, holdMs);
    let written = false;
    const write = postConsent(t, authorization, 'while-locked').then((res) => {
      written = true;
      return { res, at: performance.now() };
    });
    const measured = await probeUntil(probes, () => written);

    const { res, at } = await write;
    expect(res.statusCode).toBe(202);
    // The write really waited for the other process (SQLite: the writer lock; PostgreSQL: the table lock).
    expect(at - holder.lockedAt).toBeGreaterThan(holdMs - 1000);
    expect(await holder.exited).toBe(0);
    // A process frozen on the lock would have managed one round in the 10 s, not 20.
    expectPromptAnswers(measured, 20);
    // The background consent applier waited for the lock too, rather than failing.
    await waitForApplied(t, 15_000);
  }, 60_000);
});

describe('a write that waits longer than CUSTOS_SQLITE_LOCK_WAIT_MS', () => {
  let t: TestApp;
  let authorization: string;

  beforeAll(async () => {
    t = await createTestApp({ CUSTOS_SQLITE_LOCK_WAIT_MS: '500' });
    ({ authorization } = await consentClient(t));
  });
  afterAll(() => t.close());

  it('SQLite: answers 503 with Retry-After in the error shape; PostgreSQL waits for the lock and accepts', async () => {
    const holdMs = 3000;
    const holder = await holdWriteLock(t.database.url, holdMs);
    const res = await postConsent(t, authorization, 'gave-up');
    const waited = performance.now() - holder.lockedAt;
    if (testEngine === 'sqlite') {
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('2');
      expect(res.json()).toEqual({
        errorType: 'UNAVAILABLE',
        errorMessage: 'The database is busy with another writer; retry shortly',
      });
      expect(waited).toBeGreaterThanOrEqual(500);
      expect(waited).toBeLessThan(holdMs);
    } else {
      // The setting is SQLite's: PostgreSQL queues the insert behind the other session's lock.
      expect(res.statusCode).toBe(202);
      expect(waited).toBeGreaterThan(holdMs - 1000);
    }
    expect(await holder.exited).toBe(0);
    // Once the lock is free, the same request is accepted.
    expect((await postConsent(t, authorization, 'retried')).statusCode).toBe(202);
  }, 30_000);
});
