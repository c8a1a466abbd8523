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

/**
 * Spawns the CLI and resolves once its output matches `ready`; rejects with the output so far
 * if the process exits first or is not ready within `timeoutMs`.
 */
async function spawnUntilReady(
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
  timeoutMs: number,
  options: SpawnOptions = {},
): Promise<{ child: ChildProcess; match: RegExpExecArray; output: () => string }> {
  const child = spawnCustos(args, env, options);
  let output = '';
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args[0]} did not start:\n${output}`)), timeoutMs);
    child.stdout?.on('data', (d) => {
      output += d;
      const found = ready.exec(output);
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    });
    child.stderr?.on('data', (d) => {
      output += d;
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args[0]} exited with ${code}:\n${output}`));
    });
  });
  return { child, match, output: () => output };
}

/** Starts `custos serve` on a free port and resolves with its base URL once it listens. */
export async function startServe(
  env: Record<string, string>,
  options: SpawnOptions = {},
): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const { child, match, output } = await spawnUntilReady(
    ['serve'],
    { PORT: '0', ...env },
    /listening on (http:\/\/\S+)/,
    20_000,
    options,
  );
  return { child, url: match[1] as string, output };
}

/** Starts `custos worker` and resolves once it runs. */
export async function startWorker(env: Record<string, string>, timeoutMs = 20_000): Promise<ChildProcess> {
  return (await spawnUntilReady(['worker'], env, /Custos worker running/, timeoutMs)).child;
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
