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
}

export interface BenchRequest {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /**
   * For authentication that must be fresh per request (Connect JWTs bind the query string),
   * a function producing headers per request; called by the load generator for each request.
   */
  headersFor?: () => Record<string, string>;
  /** A body per request, when each request must differ (e.g. a different person each time). */
  bodyFor?: () => string;
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
