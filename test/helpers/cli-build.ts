import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { isAlive } from './database.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The compiled `custos` entry point the tests start (see buildCli). */
    custosCli: string;
  }
}

const root = fileURLToPath(new URL('../..', import.meta.url));
const PREFIX = 'custos-test-cli-';

/**
 * The CLI compiled once per test run, for the tests that start it as a process: node starts
 * compiled JavaScript in about half the time tsx takes to start the TypeScript sources, and
 * the suite starts the CLI a few hundred times. It is compiled into a temporary directory,
 * never the work tree's dist/ (which `npm start` rebuilds, under a test of its own), beside
 * links to the project's package.json, node_modules, web/ and config/: the compiled code then
 * finds its packages and its files relative to itself as it does in dist/.
 */
export async function buildCli(): Promise<string> {
  removeLeftoverBuilds();
  const dir = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid}-`));
  for (const entry of ['package.json', 'node_modules', 'web', 'config'])
    symlinkSync(join(root, entry), join(dir, entry));
  try {
    await compileCli(dir);
  } catch (error) {
    removeCliBuild(dir);
    throw error;
  }
  return dir;
}

export const cliEntry = (dir: string) => join(dir, 'dist', 'cli.js');

/** (Re)compiles src/ into `dir`/dist. */
export async function compileCli(dir: string): Promise<void> {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  // --noCheck: `npm run typecheck` checks the types; here only the JavaScript is needed, and
  // emitting it without the checks takes a fraction of the time.
  const args = [
    '-p',
    'tsconfig.build.json',
    '--noCheck',
    '--sourceMap',
    'false',
    '--outDir',
    join(dir, 'dist'),
  ];
  try {
    await promisify(execFile)(process.execPath, [tsc, ...args], { cwd: root });
  } catch (error) {
    const { stdout, message } = error as { stdout?: string; message: string };
    throw new Error(`Compiling the CLI for the tests failed:\n${stdout || message}`);
  }
}

export function removeCliBuild(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Builds left behind by test runs that were killed before their teardown. */
function removeLeftoverBuilds(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(PREFIX)) continue;
    const pid = Number(name.slice(PREFIX.length).split('-')[0]);
    if (Number.isInteger(pid) && !isAlive(pid)) removeCliBuild(join(tmpdir(), name));
  }
}
