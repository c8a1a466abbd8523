import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, type TestDatabase, testEngine } from '../helpers/database.js';
import { exited, runCustos, startServe } from '../helpers/process.js';

// Each test starts several CLI processes; each start takes seconds on a busy machine.
vi.setConfig({ testTimeout: 120_000 });

let database: TestDatabase;
let env: Record<string, string>;

beforeAll(async () => {
  database = await createTestDatabase();
  env = { DATABASE_URL: database.url };
  if (testEngine === 'postgres') {
    const migrated = await runCustos(['migrate'], env);
    expect(migrated.stdout).toContain('Applied: 20261124-0001-foundation');
  }
});
afterAll(() => database.drop());

describe('custos CLI', () => {
  it('serve refuses an unmigrated database unless auto-migrate is on: by default on SQLite, opted into on PostgreSQL', async () => {
    const fresh = await createTestDatabase();
    const freshEnv = { DATABASE_URL: fresh.url, PORT: '0' };
    try {
      const off = await runCustos(['serve'], { ...freshEnv, CUSTOS_AUTO_MIGRATE: 'false' });
      expect(off.code).toBe(1);
      expect(off.stderr).toContain('custos migrate');

      // A shared PostgreSQL is migrated deliberately; SQLite, the zero-setup default, migrates itself.
      if (testEngine === 'postgres') {
        const byDefault = await runCustos(['serve'], freshEnv);
        expect(byDefault.code).toBe(1);
        expect(byDefault.stderr).toContain('custos migrate');
      }
      const migrating = testEngine === 'postgres' ? { ...freshEnv, CUSTOS_AUTO_MIGRATE: 'true' } : freshEnv;
      const { child, url } = await startServe(migrating);
      try {
        expect((await fetch(`${url}/readyz`)).status).toBe(200);
      } finally {
        child.kill('SIGTERM');
      }
      expect(await exited(child)).toBe(0);
      expect((await runCustos(['migrate'], freshEnv)).stdout).toContain('Database is up to date');
    } finally {
      await fresh.drop();
    }
  });

  it('serve prints how to create a token on an empty database, and the token works', async () => {
    const { child, url, output } = await startServe(env);
    try {
      expect(output()).toMatch(
        /npm run custos -- token create --email .* --scope manage:consent-hub-consent/,
      );

      const created = await runCustos(
        [
          'token',
          'create',
          '--email',
          'client@example.com',
          '--scope',
          'manage:consent-hub-consent',
          '--label',
          'crm',
        ],
        env,
      );
      expect(created.code).toBe(0);
      const lines = created.stdout.trimEnd().split('\n');
      const token = lines[lines.length - 1] as string;
      expect(token).toMatch(/^cst_[A-Za-z0-9_-]{43}$/);

      const res = await fetch(`${url}/consent-hub/consent-config/get`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`client@example.com:${token}`).toString('base64')}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ userIp: '8.8.8.8' }),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { locale: string }).locale).toBe('US');

      const list = await runCustos(['token', 'list'], env);
      expect(list.stdout).toContain('client@example.com');
      expect(list.stdout).toContain('crm');
      expect(list.stdout).not.toContain(token);
      const tokenId = list.stdout.split(/\s+/)[0] as string;
      expect((await runCustos(['token', 'revoke', tokenId], env)).stdout).toContain(`Revoked ${tokenId}`);
      expect((await runCustos(['token', 'revoke', tokenId], env)).code).toBe(1);
    } finally {
      child.kill('SIGTERM');
      expect(await exited(child)).toBe(0);
    }
  });

  it('notice add registers a version and notice list shows it', async () => {
    const added = await runCustos(
      [
        'notice',
        'add',
        '--key',
        'productUpdates',
        '--version',
        'v1',
        '--text',
        'Tell me about product updates.',
      ],
      env,
    );
    expect(added.code).toBe(0);
    expect(added.stdout).toContain('Registered productUpdates version v1');
    const duplicate = await runCustos(
      [
        'notice',
        'add',
        '--key',
        'productUpdates',
        '--version',
        'v2',
        '--text',
        'Tell me about product updates.',
      ],
      env,
    );
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toContain('already exists');
    const list = await runCustos(['notice', 'list'], env);
    expect(list.stdout).toContain('generalMarketingOptIn  2020-04-02');
    expect(list.stdout).toContain('productUpdates  v1');
  });

  it('fails fast with a message naming a bad configuration variable', async () => {
    const res = await runCustos(['migrate'], { ...env, PORT: 'eighty' });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('PORT');
  });
});
