import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A benchmark scenario: one kind of request against a running Custos, compared with a bare
 * Fastify route that returns a body of the same JSON shape (the baseline), measured in the
 * same run on the same machine.
 */
export interface BenchTarget {
  /** Custos's throughput as a share of the baseline's must be at least this (e.g. 0.7). */
  minRatio?: number;
  /** Or an absolute floor, in requests per second. */
  minRps?: number;
  /** Also: Custos's CPU per request (its database's included) at most this many times the baseline's. */
  maxCpuRatio?: number;
}

/**
 * One request to load-test. Plain data, since the load generator runs in a process of its
 * own (bench/load.ts): what must differ per request is listed, not computed here.
 */
export interface BenchRequest {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Bodies sent in rotation, one per request (e.g. a different person each time). */
  bodies?: string[];
  /**
   * Or each request's body drawn afresh: `template` with `{n}` replaced by a number drawn at
   * random below `below`, zero-padded to `digits` (e.g. one of a million seeded people).
   */
  randomBody?: { template: string; below: number; digits: number };
  /**
   * A fresh Connect JWT per request (its qsh binds the URL), signed HS256 with the
   * installation's shared secret and sent as `Authorization: JWT …`.
   */
  connectJwt?: { issuer: string; secret: string };
}

export interface BenchEnv {
  /** Base URL of the Custos server under test (its own SQLite or PostgreSQL database). */
  baseUrl: string;
  /** DATABASE_URL of that server, for seeding through the CLI or the services. */
  databaseUrl: string;
  /** Runs the built CLI against the same database; resolves with stdout. */
  cli(args: string[]): Promise<string>;
}

export interface BenchScenario {
  name: string;
  /** Prepares data and returns the request to load-test. */
  setup(env: BenchEnv): Promise<BenchRequest>;
  /** A body of the same JSON shape as Custos's answer, returned by the baseline route. */
  baselineBody: unknown;
  /** Status the baseline answers with (Custos's expected status), default 200. */
  status?: number;
  target: BenchTarget;
}

/**
 * Imports a directory file through the CLI: the file is written to a directory of its own
 * and removed once imported, so that a run leaves nothing behind.
 */
export async function importDirectory(env: BenchEnv, file: unknown): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'custos-bench-import-'));
  try {
    const path = join(dir, 'directory.json');
    writeFileSync(path, JSON.stringify(file));
    await env.cli(['import', path]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
