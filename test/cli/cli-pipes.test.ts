import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { exited, runCustos, spawnCustos } from '../helpers/process.js';
import { until } from '../helpers/wait.js';

// Several CLI processes start at once here: each start takes seconds on a busy machine.
const PROCESS_TIMEOUT_MS = 60_000;

let database: TestDatabase;
let env: Record<string, string>;

beforeAll(async () => {
  database = await createTestDatabase();
  // A key of its own: no key file in the work tree.
  env = { DATABASE_URL: database.url, CUSTOS_SECRET_KEY: randomBytes(32).toString('base64') };
  // Migrated first on both engines: the commands below run at once.
  expect((await runCustos(['migrate'], env)).code).toBe(0);
});
afterAll(() => database.drop());

/** Runs a command whose reader has already gone (`custos … | head` after head exits). */
function withClosedStdout(args: string[], extraEnv: Record<string, string> = {}) {
  const child = spawnCustos(args, { ...env, ...extraEnv });
  // Closing our end of the pipe before the command writes: its first write fails with EPIPE.
  child.stdout?.destroy();
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  return { child, stderr: () => stderr };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

describe('the CLI when the reader of its output goes away', () => {
  it.concurrent.each([[['access', 'use-case', 'list']], [['token', 'list']], [['audit', 'verify']]])(
    '%j ends with status 0 and no stack trace',
    async (args) => {
      const { child, stderr } = withClosedStdout(args);
      expect(await exited(child)).toBe(0);
      expect(stderr()).toBe('');
    },
    PROCESS_TIMEOUT_MS,
  );

  it(
    'serve keeps serving when its output pipe closes',
    async () => {
      // The port is chosen here: serve's "listening on" line goes to the closed pipe.
      const port = await freePort();
      const { child, stderr } = withClosedStdout(['serve'], { PORT: String(port) });
      try {
        await until(
          () =>
            fetch(`http://127.0.0.1:${port}/healthz`).then(
              (r) => r.status === 200,
              () => false,
            ),
          { timeoutMs: 20_000, intervalMs: 100, message: 'serve to answer /healthz' },
        );
        expect(child.exitCode).toBeNull();
      } finally {
        child.kill('SIGTERM');
      }
      expect(await exited(child)).toBe(0);
      expect(stderr()).not.toContain('EPIPE');
    },
    PROCESS_TIMEOUT_MS,
  );
});
