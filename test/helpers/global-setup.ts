import type { TestProject } from 'vitest/node';
import { buildCli, cliEntry, compileCli, removeCliBuild } from './cli-build.js';
import { dropLeftoverDatabases } from './database.js';

/**
 * Vitest calls setup once per project (the root and each engine's) in the same process, and
 * every teardown at the end of the run: the CLI build is shared through globalThis, made by
 * the first call and removed by the first teardown.
 */
const shared = globalThis as { custosCliBuild?: Promise<string> };

/**
 * Runs before any test. On PostgreSQL, checks the server is there (failing the run loudly
 * rather than skipping) and clears test databases an interrupted run left behind. Compiles
 * the CLI the tests start as a process, again before each rerun in watch mode.
 */
export async function setup(project: TestProject) {
  if (project.config.env?.CUSTOS_TEST_DB === 'postgres') await dropLeftoverDatabases();
  if (!shared.custosCliBuild) {
    const build = buildCli();
    shared.custosCliBuild = build;
    project.onTestsRerun(async () => compileCli(await build));
  }
  project.provide('custosCli', cliEntry(await shared.custosCliBuild));
}

export async function teardown() {
  const build = shared.custosCliBuild;
  shared.custosCliBuild = undefined;
  // A build that failed has failed the run already, and left nothing behind.
  await build?.then(removeCliBuild, () => {});
}
