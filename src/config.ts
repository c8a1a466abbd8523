import Type, { type Static } from 'typebox';
import { coercingAjv } from './validation.js';

/**
 * Every setting Custos reads, validated once at boot. Nothing else reads `process.env`.
 * `.env.example` documents each variable; keep the two in step.
 */
const EnvSchema = Type.Object({
  DATABASE_URL: Type.String({ default: 'sqlite:./data/custos.db', pattern: '^(sqlite:|postgres(ql)?://)' }),
  HOST: Type.String({ default: '127.0.0.1', minLength: 1 }),
  PORT: Type.Integer({ default: 8080, minimum: 0, maximum: 65535 }),
  LOG_LEVEL: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info' }),
  CUSTOS_AUTO_MIGRATE: Type.Optional(Type.Boolean()),
  CUSTOS_IN_PROCESS_WORKER: Type.Boolean({ default: true }),
  CUSTOS_WORKER_POLL_MS: Type.Integer({ default: 50, minimum: 5, maximum: 60_000 }),
  CUSTOS_GEOIP_DB: Type.Optional(Type.String({ minLength: 1 })),
  CUSTOS_OPT_IN_COUNTRIES_FILE: Type.Optional(Type.String({ minLength: 1 })),
  CUSTOS_TRUST_PROXY: Type.Boolean({ default: false }),
  CUSTOS_BODY_LIMIT: Type.Integer({ default: 65_536, minimum: 1024, maximum: 10_485_760 }),
  CUSTOS_PG_POOL_SIZE: Type.Integer({ default: 10, minimum: 1, maximum: 500 }),
  CUSTOS_AUTH_CACHE_MS: Type.Integer({ default: 2000, minimum: 0, maximum: 60_000 }),
  CUSTOS_SHUTDOWN_TIMEOUT_MS: Type.Integer({ default: 10_000, minimum: 100, maximum: 600_000 }),
  CUSTOS_ALLOW_PRIVATE_WEBHOOKS: Type.Boolean({ default: false }),
  CUSTOS_WEBHOOK_TIMEOUT_MS: Type.Integer({ default: 15_000, minimum: 100, maximum: 60_000 }),
  CUSTOS_WEBHOOK_MAX_AGE_HOURS: Type.Number({ default: 72, minimum: 0.001, maximum: 720 }),
  CUSTOS_SECRET_KEY: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9+/]{43}=$' })),
  CUSTOS_SECRET_KEY_FILE: Type.String({ default: './data/custos.key', minLength: 1 }),
  CUSTOS_PUBLIC_URL: Type.Optional(Type.String({ pattern: '^https?://[^/?#]+(/[^?#]*)?$' })),
  CUSTOS_OAUTH_TOKEN_TTL_S: Type.Integer({ default: 3600, minimum: 60, maximum: 86_400 }),
  CUSTOS_REPORT_CYCLE_DAYS: Type.Integer({ default: 15, minimum: 1, maximum: 365 }),
  CUSTOS_REPORT_RATE_LIMIT: Type.Integer({ default: 6000, minimum: 1, maximum: 1_000_000 }),
  CUSTOS_REPORT_RATE_WINDOW_S: Type.Integer({ default: 60, minimum: 1, maximum: 86_400 }),
  CUSTOS_REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  CUSTOS_REDIS_KEY_PREFIX: Type.String({ default: 'custos:', minLength: 1 }),
  CUSTOS_WEBHOOK_SECRET_GRACE_HOURS: Type.Number({ default: 24, minimum: 0, maximum: 720 }),
  CUSTOS_SESSION_IDLE_MIN: Type.Integer({ default: 30, minimum: 1, maximum: 1440 }),
  CUSTOS_SESSION_MAX_HOURS: Type.Number({ default: 12, minimum: 0.25, maximum: 720 }),
});

type Env = Static<typeof EnvSchema>;

export interface Config {
  databaseUrl: string;
  host: string;
  port: number;
  logLevel: string;
  /** Apply pending migrations when `serve` starts. */
  autoMigrate: boolean;
  inProcessWorker: boolean;
  workerPollMs: number;
  geoipDbPath: string | undefined;
  optInCountriesFile: string | undefined;
  trustProxy: boolean;
  bodyLimit: number;
  pgPoolSize: number;
  shutdownTimeoutMs: number;
  /** How long a checked API token is trusted without re-reading it (a revocation elsewhere takes up to this long). */
  authCacheMs: number;
  /** Deliver webhooks to loopback/private addresses (tests, local demos); refused by default (SSRF). */
  allowPrivateWebhooks: boolean;
  webhookTimeoutMs: number;
  /** Undelivered webhooks are retried this long, then dead-lettered. */
  webhookMaxAgeMs: number;
  /** Master key (base64, 32 bytes) for secrets at rest; when absent, read or created at secretKeyFile. */
  secretKey: string | undefined;
  secretKeyFile: string;
  /** Base URL for links in responses (`self`, default avatars); else taken from the request. */
  publicUrl: string | undefined;
  oauthTokenTtlSeconds: number;
  /** How often an app must report each account it holds (the `Cycle-Period` header, whole days). */
  reportCycleDays: number;
  /** report-accounts requests each app may make per window; 429 with Retry-After past it. */
  reportRateLimit: number;
  reportRateWindowMs: number;
  /** Shared store for rate limits across processes; in-memory (one process) when absent. */
  redisUrl: string | undefined;
  redisKeyPrefix: string;
  /** After a webhook secret rotation, the previous secret keeps signing this long. */
  webhookSecretGraceMs: number;
  /** A person's session ends after this long without a request (OWASP ASVS V3.3). */
  sessionIdleMs: number;
  /** A session ends this long after sign-in, whatever the activity (the absolute timeout). */
  sessionMaxMs: number;
}

export class ConfigError extends Error {}

const validateEnv = coercingAjv.compile<Env>(EnvSchema);

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const names = Object.keys(EnvSchema.properties);
  const input: Record<string, unknown> = {};
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value !== '') input[name] = value;
  }
  if (!validateEnv(input)) {
    const problems = (validateEnv.errors ?? []).map((e) => {
      const name = e.instancePath.replace(/^\//, '') || String(e.params.missingProperty ?? '');
      return `${name} ${e.message ?? 'is invalid'}`;
    });
    throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  const e = input as Env;
  const isSqlite = e.DATABASE_URL.startsWith('sqlite:');
  return {
    databaseUrl: e.DATABASE_URL,
    host: e.HOST,
    port: e.PORT,
    logLevel: e.LOG_LEVEL,
    // SQLite is the zero-setup default, so it migrates itself; a shared PostgreSQL is
    // migrated deliberately (`custos migrate`) unless the operator opts in.
    autoMigrate: e.CUSTOS_AUTO_MIGRATE ?? isSqlite,
    inProcessWorker: e.CUSTOS_IN_PROCESS_WORKER,
    workerPollMs: e.CUSTOS_WORKER_POLL_MS,
    geoipDbPath: e.CUSTOS_GEOIP_DB,
    optInCountriesFile: e.CUSTOS_OPT_IN_COUNTRIES_FILE,
    trustProxy: e.CUSTOS_TRUST_PROXY,
    bodyLimit: e.CUSTOS_BODY_LIMIT,
    pgPoolSize: e.CUSTOS_PG_POOL_SIZE,
    shutdownTimeoutMs: e.CUSTOS_SHUTDOWN_TIMEOUT_MS,
    authCacheMs: e.CUSTOS_AUTH_CACHE_MS,
    allowPrivateWebhooks: e.CUSTOS_ALLOW_PRIVATE_WEBHOOKS,
    webhookTimeoutMs: e.CUSTOS_WEBHOOK_TIMEOUT_MS,
    webhookMaxAgeMs: Math.round(e.CUSTOS_WEBHOOK_MAX_AGE_HOURS * 3_600_000),
    secretKey: e.CUSTOS_SECRET_KEY,
    secretKeyFile: e.CUSTOS_SECRET_KEY_FILE,
    publicUrl: e.CUSTOS_PUBLIC_URL?.replace(/\/$/, ''),
    oauthTokenTtlSeconds: e.CUSTOS_OAUTH_TOKEN_TTL_S,
    reportCycleDays: e.CUSTOS_REPORT_CYCLE_DAYS,
    reportRateLimit: e.CUSTOS_REPORT_RATE_LIMIT,
    reportRateWindowMs: e.CUSTOS_REPORT_RATE_WINDOW_S * 1000,
    redisUrl: e.CUSTOS_REDIS_URL,
    redisKeyPrefix: e.CUSTOS_REDIS_KEY_PREFIX,
    webhookSecretGraceMs: Math.round(e.CUSTOS_WEBHOOK_SECRET_GRACE_HOURS * 3_600_000),
    sessionIdleMs: e.CUSTOS_SESSION_IDLE_MIN * 60_000,
    sessionMaxMs: Math.round(e.CUSTOS_SESSION_MAX_HOURS * 3_600_000),
  };
}
