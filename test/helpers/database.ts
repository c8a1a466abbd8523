import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export type TestEngine = 'sqlite' | 'postgres';

export const testEngine: TestEngine = process.env.CUSTOS_TEST_DB === 'postgres' ? 'postgres' : 'sqlite';

export const adminPostgresUrl =
  process.env.CUSTOS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Databases made by this run share a prefix so an interrupted run's leftovers can be found. */
export const TEST_DB_PREFIX = 'custos_test_';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminPostgresUrl });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `PostgreSQL is not reachable at ${adminPostgresUrl} (${(error as Error).message}). ` +
        'Start it, set CUSTOS_TEST_POSTGRES_URL, or run one engine: npm test -- --project sqlite',
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh, empty database on the engine under test. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `${TEST_DB_PREFIX}${process.pid}_${randomBytes(4).toString('hex')}`;
  if (testEngine === 'sqlite') {
    // A directory of its own, as in production: files a test keeps outside the database's
    // directory (an audit witness) may then live anywhere else under the temporary directory.
    const dir = mkdtempSync(join(tmpdir(), `${name}-`));
    return {
      url: `sqlite:${join(dir, 'custos.db')}`,
      async drop() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  await withAdmin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminPostgresUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () =>
      withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Drops test databases left behind by test processes that no longer exist (a run that was
 * killed, say). A database whose creating process is alive belongs to a run in progress.
 */
export async function dropLeftoverDatabases(): Promise<void> {
  await withAdmin(async (c) => {
    const { rows } = await c.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE '${TEST_DB_PREFIX}%'`,
    );
    for (const { datname } of rows) {
      const pid = Number(datname.slice(TEST_DB_PREFIX.length).split('_')[0]);
      if (Number.isInteger(pid) && !isAlive(pid))
        await c.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    }
  });
}
