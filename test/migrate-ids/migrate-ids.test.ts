import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseCsv } from '../../src/migrate-ids/csv.js';
import { type ServedApp, serveTestApp } from '../helpers/browser.js';
import { exampleDirectory, importExample, SECRETS } from '../helpers/directory.js';
import { until } from '../helpers/wait.js';

const ROWS = 10_000;
const accountId = (i: number) => `mig-${i}`;
const email = (i: number) => `Person.${i}@Migrate.test`;

/** The compiled custos-migrate-ids, beside the compiled custos the suite builds once. */
const entry = () => join(dirname(inject('custosCli')), 'migrate-ids', 'cli.js');

function run(t: ServedApp, args: string[]): ChildProcess {
  return spawn(process.execPath, [entry(), ...args, '--concurrency', '8'], {
    env: {
      ...process.env,
      CUSTOS_URL: t.baseUrl,
      CUSTOS_CLIENT_ID: 'timesheets',
      CUSTOS_CLIENT_SECRET: SECRETS.timesheetsClient,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function exit(child: ChildProcess): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
}

describe('custos-migrate-ids against a running Custos', () => {
  let t: ServedApp;
  let dir: string;
  let searches = 0;
  let throttled = 0;

  beforeAll(async () => {
    t = await serveTestApp(
      {},
      {
        // Every 1,500th search is answered 429 with Retry-After, as a rate limit would.
        register: async (app) => {
          app.addHook('onRequest', async (request, reply) => {
            if (!request.url.startsWith('/rest/api/3/user/search')) return;
            searches += 1;
            if (searches % 1500 === 0) {
              throttled += 1;
              return reply
                .status(429)
                .header('retry-after', '1')
                .send({ errorType: 'RATE_LIMITED', errorMessage: 'slow down' });
            }
          });
        },
      },
    );
    // The accounts go in directly, not through the API, to keep the test short.
    const file = exampleDirectory();
    for (let i = 0; i < ROWS; i++)
      file.accounts?.push({
        accountId: accountId(i),
        accountType: 'atlassian',
        email: email(i).toLowerCase(),
        nickname: `migrate-${i}`,
        visibility: { email: 'public' },
      });
    file.sites
      ?.find((s) => s.id === 'acme-prod')
      ?.members?.push(...Array.from({ length: ROWS }, (_, i) => accountId(i)));
    await importExample(t, file);
    dir = mkdtempSync(join(tmpdir(), 'custos-migrate-ids-'));
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('resolves 10,000 rows, survives SIGKILL mid-way and resumes, each row exactly once', async () => {
    const input = join(dir, 'users.csv');
    const output = join(dir, 'users-with-ids.csv');
    // Emails in another case than stored, one username, and a row naming nobody, with a comma in a quoted column.
    const lines = ['email,"note, free text"'];
    for (let i = 0; i < ROWS; i++) {
      const value = i === 5 ? 'MIGRATE-5' : i === 6 ? 'nobody@migrate.test' : email(i);
      lines.push(`${value},"row ${i}, kept"`);
    }
    writeFileSync(input, `${lines.join('\n')}\n`);

    const first = run(t, [input, output, '--no-progress']);
    const firstExit = exit(first);
    await until(
      () => {
        try {
          return statSync(output).size > 3000 * 30;
        } catch {
          return false;
        }
      },
      { timeoutMs: 600_000, intervalMs: 20, message: 'a third of the rows written' },
    );
    first.kill('SIGKILL');
    const killed = await firstExit;
    expect(killed.signal).toBe('SIGKILL');
    const partial = parseCsv(readFileSync(output, 'utf8')).complete - 1;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(ROWS);

    const second = await exit(run(t, [input, output, '--no-progress']));
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('Resuming after row');

    const { records } = parseCsv(readFileSync(output, 'utf8'));
    expect(records[0]).toEqual(['email', 'note, free text', 'accountId', 'status']);
    const rows = records.slice(1);
    expect(rows).toHaveLength(ROWS);
    rows.forEach((row, i) => {
      expect(row[1]).toBe(`row ${i}, kept`);
      if (i === 6) expect(row.slice(2)).toEqual(['', 'not-found']);
      else expect(row.slice(2), `row ${i}`).toEqual([accountId(i), 'found']);
    });
    expect(throttled).toBeGreaterThan(0);
  }, 900_000);

  it('refuses to start without credentials, naming what is missing', async () => {
    const child = spawn(process.execPath, [entry(), 'in.csv', 'out.csv'], {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const result = await exit(child);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--url / CUSTOS_URL');
  });
});
