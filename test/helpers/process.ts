import { type ChildProcess, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, inject } from 'vitest';
import { createTestDatabase, type TestDatabase, testEngine } from './database.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The audit checkpoint signing key of the test processes and the CLIs they start: one key,
 * so a checkpoint signed in a test verifies in a CLI, and never a key file in the work tree.
 */
export const TEST_AUDIT_SIGNING_KEY_FILE = join(tmpdir(), 'custos-test-audit-signing.key');
/** Receipt signing keys for tests: outside the work tree, shared by every test app. */
export const TEST_RECEIPT_KEYS_DIR = join(tmpdir(), 'custos-test-receipt-keys');

export interface SpawnOptions {
  /** Run under `ulimit -n` of this many descriptors. */
  maxOpenFiles?: number;
}

/** The `custos` CLI, compiled from this tree's sources, as a separate process (real signals, real crashes). */
export function spawnCustos(
  args: string[],
  env: Record<string, string>,
  options: SpawnOptions = {},
): ChildProcess {
  const command = [process.execPath, inject('custosCli'), ...args];
  // `exec` so that the child is Custos itself, not a shell around it (signals reach it).
  const [file, argv] =
    options.maxOpenFiles === undefined
      ? [process.execPath, command.slice(1)]
      : ['sh', ['-c', `ulimit -n ${options.maxOpenFiles} && exec "$@"`, 'sh', ...command]];
  return spawn(file, argv, {
    cwd: root,
    env: {
      ...process.env,
      LOG_LEVEL: 'warn',
      CUSTOS_AUDIT_SIGNING_KEY_FILE: TEST_AUDIT_SIGNING_KEY_FILE,
      CUSTOS_RECEIPT_KEYS_DIR: TEST_RECEIPT_KEYS_DIR,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCustos(args: string[], env: Record<string, string>): Promise<CliResult> {
  const child = spawnCustos(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => {
    stdout += d;
  });
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts `custos serve` on a free port and resolves with its base URL once it listens. */
export async function startServe(
  env: Record<string, string>,
  options: SpawnOptions = {},
): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawnCustos(['serve'], { PORT: '0', ...env }, options);
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${output}`)), 20_000);
    child.stdout?.on('data', (d) => {
      output += d;
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.stderr?.on('data', (d) => {
      output += d;
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}:\n${output}`));
    });
  });
  return { child, url, output: () => output };
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

/**
 * A fresh database for Custos processes started by a test, and their environment: on
 * PostgreSQL migrated first (SQLite's `serve` migrates its own file at start).
 */
export async function databaseForProcesses(
  extra: Record<string, string> = {},
): Promise<{ database: TestDatabase; env: Record<string, string> }> {
  const database = await createTestDatabase();
  const env = { DATABASE_URL: database.url, ...extra };
  if (testEngine === 'postgres') expect((await runCustos(['migrate'], env)).code).toBe(0);
  return { database, env };
}
