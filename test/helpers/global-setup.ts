import { dropLeftoverDatabases } from './database.js';

/**
 * Runs once per `vitest run`. On PostgreSQL, checks the server is there (failing the run
 * loudly rather than skipping) and clears test databases an interrupted run left behind.
 */
export async function setup(project: { config: { env?: Record<string, string> } }) {
  if (project.config.env?.CUSTOS_TEST_DB === 'postgres') await dropLeftoverDatabases();
}

export async function teardown() {}
