import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { exited } from '../helpers/process.js';
import { until } from '../helpers/wait.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

// `npm start` compiles the whole project first: slow, and on a busy machine slower still.
const NPM_START_TIMEOUT_MS = 240_000;

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.drop());

const BUILD_LOCK = join(tmpdir(), 'custos-test-npm-start.lock');

/**
 * `npm start` rebuilds dist/: the run on each engine takes this lock so that two builds never
 * write dist/ under each other. A lock older than the test's own timeout was left by a killed run.
 */
async function withBuildLock<T>(fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      mkdirSync(BUILD_LOCK);
      break;
    } catch {
      const age = Date.now() - (statSync(BUILD_LOCK, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > NPM_START_TIMEOUT_MS) rmSync(BUILD_LOCK, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(BUILD_LOCK, { recursive: true, force: true });
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

describe('npm start', () => {
  it(
    'runs the server as npm’s own child, so that stopping npm (SIGINT, SIGTERM, Ctrl-C) stops it',
    () =>
      withBuildLock(async () => {
        const npm = spawn('npm', ['start'], {
          cwd: root,
          env: {
            ...process.env,
            DATABASE_URL: database.url,
            CUSTOS_AUTO_MIGRATE: 'true',
            PORT: '0',
            LOG_LEVEL: 'info',
            CUSTOS_SECRET_KEY: randomBytes(32).toString('base64'),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let output = '';
        npm.stderr.on('data', (d) => {
          output += d;
        });
        let serverPid: number | undefined;
        try {
          const listening = await new Promise<{ pid: number; port: number }>((resolve, reject) => {
            npm.stdout.on('data', (d) => {
              output += d;
              // Printed once the signal handlers are in place; the pid is on every log line.
              const url = /Custos listening on (http:\/\/\S+)/.exec(output)?.[1];
              const pid = /"pid":(\d+)/.exec(output)?.[1];
              if (url && pid) resolve({ pid: Number(pid), port: Number(new URL(url).port) });
            });
            npm.on('exit', (code) => reject(new Error(`npm start exited with ${code}:\n${output}`)));
          });
          serverPid = listening.pid;

          // No shell between npm and the server: npm forwards SIGINT and SIGTERM to its child.
          const stat = readFileSync(`/proc/${listening.pid}/stat`, 'utf8');
          expect(Number(stat.split(') ')[1]?.split(' ')[1])).toBe(npm.pid);
          expect(await portAnswers(listening.port)).toBe(true);

          // SIGINT to npm alone, as `kill -INT` sends it (before, the shell swallowed it).
          npm.kill('SIGINT');
          expect(await exited(npm)).toBe(0);
          await until(() => !isRunning(listening.pid), {
            timeoutMs: 5000,
            intervalMs: 50,
            message: 'the server to exit',
          });
          expect(await portAnswers(listening.port)).toBe(false);
          expect(output).toContain('received SIGINT, shutting down');
        } finally {
          // Whatever failed above, leave no server behind.
          if (serverPid !== undefined && isRunning(serverPid)) process.kill(serverPid, 'SIGKILL');
          if (npm.exitCode === null && npm.signalCode === null) npm.kill('SIGKILL');
        }
      }),
    NPM_START_TIMEOUT_MS,
  );
});
