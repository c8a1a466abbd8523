import { defineConfig } from 'vitest/config';

/**
 * `npm test` runs the whole suite twice: once on SQLite and once on PostgreSQL
 * (CUSTOS_TEST_POSTGRES_URL, default the local server). Each test file gets its own
 * database, dropped afterwards. `npm test -- --project sqlite` runs one engine only.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ['test/helpers/global-setup.ts'],
    projects: [
      { extends: true, test: { name: 'sqlite', env: { CUSTOS_TEST_DB: 'sqlite' } } },
      { extends: true, test: { name: 'postgres', env: { CUSTOS_TEST_DB: 'postgres' } } },
    ],
  },
});
