import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_SCOPE, API_CLIENT_SCOPE_NAMES, CONSENT_HUB_SCOPE } from '../../src/auth/scopes.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { runCustos } from '../helpers/process.js';

// Each step spawns the CLI, which takes seconds on a loaded machine.
const CLI_TIMEOUT_MS = 180_000;
let database: TestDatabase;
let env: Record<string, string>;

beforeAll(async () => {
  database = await createTestDatabase();
  // A key of its own: commands build the whole context, master key included; none lands in the work tree.
  env = { DATABASE_URL: database.url, CUSTOS_SECRET_KEY: randomBytes(32).toString('base64') };
  expect((await runCustos(['migrate'], env)).code).toBe(0);
});
afterAll(() => database.drop());

const create = (email: string, ...scopes: string[]) =>
  runCustos(['token', 'create', '--email', email, ...scopes.flatMap((s) => ['--scope', s])], env);

describe('custos token', () => {
  it(
    'create refuses a scope no API client can hold, naming it and the known ones, and writes nothing',
    async () => {
      const typo = await create('typo@example.com', CONSENT_HUB_SCOPE, 'manage:consent');
      expect(typo.code).toBe(1);
      expect(typo.stderr).toContain('unknown "manage:consent"');
      for (const scope of API_CLIENT_SCOPE_NAMES) expect(typo.stderr).toContain(scope);
      expect(typo.stdout).not.toMatch(/cst_/);
      expect((await runCustos(['token', 'list'], env)).stdout.trim()).toBe('No tokens');

      const help = await runCustos(['token', 'create', '--help'], env);
      for (const scope of API_CLIENT_SCOPE_NAMES) expect(help.stdout).toContain(scope);
    },
    CLI_TIMEOUT_MS,
  );

  it(
    "list shows each token with its client's scopes",
    async () => {
      expect((await create('both@example.com', ADMIN_SCOPE, CONSENT_HUB_SCOPE)).code).toBe(0);
      expect((await create('ops@example.com', ADMIN_SCOPE)).code).toBe(0);
      expect((await runCustos(['token', 'list'], env)).stdout).toMatch(
        /ops@example\.com {2}admin:custos {2}active/,
      );
      // A later grant widens the client, so its earlier token shows it too.
      expect((await create('ops@example.com', CONSENT_HUB_SCOPE)).code).toBe(0);

      const lines = (await runCustos(['token', 'list'], env)).stdout.trimEnd().split('\n');
      const scopesOf = (email: string) =>
        lines.filter((l) => l.split(/\s+/)[1] === email).map((l) => l.split(/\s+/)[2]);
      const sorted = [ADMIN_SCOPE, CONSENT_HUB_SCOPE].sort().join(',');
      expect(scopesOf('both@example.com')).toEqual([sorted]);
      expect(scopesOf('ops@example.com')).toEqual([sorted, sorted]);
    },
    CLI_TIMEOUT_MS,
  );
});
