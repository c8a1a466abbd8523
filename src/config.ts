import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import Type, { type Static } from 'typebox';
import { sqlitePath } from './db/dialect.js';
import { coercingAjv, problemsOf } from './validation.js';

/**
 * Every setting Custos reads, validated once at boot. Nothing else reads `process.env`.
 * `.env.example` documents each variable; keep the two in step.
 */
const EnvSchema = Type.Object({
  DATABASE_URL: Type.String({
    default: 'sqlite:./data/custos.db',
    pattern: '^(sqlite:|postgres(ql)?://)',
    errorMessage: 'must start with sqlite: or postgres://',
  }),
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
  CUSTOS_HEADERS_TIMEOUT_MS: Type.Integer({ default: 10_000, minimum: 100, maximum: 600_000 }),
  CUSTOS_BODY_TIMEOUT_MS: Type.Integer({ default: 10_000, minimum: 100, maximum: 600_000 }),
  CUSTOS_REQUEST_TIMEOUT_MS: Type.Integer({ default: 30_000, minimum: 100, maximum: 3_600_000 }),
  CUSTOS_KEEP_ALIVE_TIMEOUT_MS: Type.Integer({ default: 5000, minimum: 100, maximum: 600_000 }),
  CUSTOS_MAX_CONNECTIONS: Type.Integer({ default: 900, minimum: 1, maximum: 1_000_000 }),
  CUSTOS_PG_POOL_SIZE: Type.Integer({ default: 10, minimum: 1, maximum: 500 }),
  CUSTOS_SQLITE_LOCK_WAIT_MS: Type.Integer({ default: 15_000, minimum: 0, maximum: 600_000 }),
  CUSTOS_AUTH_CACHE_MS: Type.Integer({ default: 2000, minimum: 0, maximum: 60_000 }),
  CUSTOS_SHUTDOWN_TIMEOUT_MS: Type.Integer({ default: 10_000, minimum: 100, maximum: 600_000 }),
  CUSTOS_ALLOW_PRIVATE_WEBHOOKS: Type.Boolean({ default: false }),
  CUSTOS_WEBHOOK_TIMEOUT_MS: Type.Integer({ default: 15_000, minimum: 100, maximum: 60_000 }),
  CUSTOS_WEBHOOK_MAX_AGE_HOURS: Type.Number({ default: 72, minimum: 0.001, maximum: 720 }),
  CUSTOS_SECRET_KEY: Type.Optional(
    Type.String({
      pattern: '^[A-Za-z0-9+/]{43}=$',
      errorMessage:
        'must be 32 bytes in base64 (44 characters ending in =), e.g. from openssl rand -base64 32',
    }),
  ),
  CUSTOS_SECRET_KEY_FILE: Type.String({ default: './data/custos.key', minLength: 1 }),
  CUSTOS_PUBLIC_URL: Type.Optional(
    Type.String({
      pattern: '^https?://[^/?#]+(/[^?#]*)?$',
      errorMessage: 'must be an http(s) URL without query or fragment, e.g. https://custos.example.com',
    }),
  ),
  CUSTOS_SMTP_URL: Type.Optional(
    Type.String({
      pattern: '^smtps?://',
      errorMessage: 'must start with smtp:// or smtps://, e.g. smtp://user:password@mail.example.com:587',
    }),
  ),
  CUSTOS_MAIL_FROM: Type.String({ default: 'Custos <custos@localhost>', minLength: 3 }),
  CUSTOS_OAUTH_TOKEN_TTL_S: Type.Integer({ default: 3600, minimum: 60, maximum: 86_400 }),
  CUSTOS_REPORT_CYCLE_DAYS: Type.Integer({ default: 15, minimum: 1, maximum: 365 }),
  CUSTOS_REPORT_RATE_LIMIT: Type.Integer({ default: 6000, minimum: 1, maximum: 1_000_000 }),
  CUSTOS_REPORT_RATE_WINDOW_S: Type.Integer({ default: 60, minimum: 1, maximum: 86_400 }),
  CUSTOS_AUTH_FAILURE_LIMIT: Type.Integer({ default: 10, minimum: 1, maximum: 1_000_000 }),
  CUSTOS_AUTH_FAILURE_ADDRESS_LIMIT: Type.Integer({ default: 100, minimum: 1, maximum: 1_000_000 }),
  CUSTOS_AUTH_FAILURE_WINDOW_S: Type.Integer({ default: 900, minimum: 1, maximum: 86_400 }),
  CUSTOS_REDIS_URL: Type.Optional(
    Type.String({ pattern: '^rediss?://', errorMessage: 'must start with redis:// or rediss://' }),
  ),
  CUSTOS_REDIS_KEY_PREFIX: Type.String({ default: 'custos:', minLength: 1 }),
  CUSTOS_WEBHOOK_SECRET_GRACE_HOURS: Type.Number({ default: 24, minimum: 0, maximum: 720 }),
  CUSTOS_AUDIT_SIGNING_KEY: Type.Optional(
    Type.String({
      pattern: '^\\s*-----BEGIN PRIVATE KEY-----',
      errorMessage: 'must be a PEM private key (-----BEGIN PRIVATE KEY-----)',
    }),
  ),
  CUSTOS_AUDIT_SIGNING_KEY_FILE: Type.String({ default: './data/audit-signing.key', minLength: 1 }),
  CUSTOS_AUDIT_CHECKPOINT_MINUTES: Type.Number({ default: 60, minimum: 0, maximum: 10_080 }),
  CUSTOS_AUDIT_WITNESS_URL: Type.Optional(
    Type.String({
      pattern: '^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]+',
      errorMessage: 'must be an absolute http(s) URL',
    }),
  ),
  CUSTOS_AUDIT_WITNESS_SECRET: Type.Optional(
    Type.String({
      pattern: '^whsec_[A-Za-z0-9+/]{32,}={0,2}$',
      errorMessage: 'must be whsec_ followed by at least 24 base64-encoded bytes',
    }),
  ),
  CUSTOS_AUDIT_WITNESS_FILE: Type.Optional(Type.String({ minLength: 1 })),
  CUSTOS_ACCESS_REQUESTS_PER_DAY: Type.Integer({ default: 5, minimum: 1, maximum: 1000 }),
  CUSTOS_ACCESS_REVIEW_SLA_HOURS: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 8760 })),
  CUSTOS_JOB_LEASE_S: Type.Integer({ default: 60, minimum: 1, maximum: 3600 }),
  // At least a day: a finished row must outlive its due time's interval (clean-ups run at most daily).
  CUSTOS_JOB_RETENTION_DAYS: Type.Number({ default: 30, minimum: 1, maximum: 3650 }),
  CUSTOS_CLEANUP_INTERVAL_S: Type.Integer({ default: 3600, minimum: 1, maximum: 86_400 }),
  CUSTOS_CLEANUP_BATCH_SIZE: Type.Integer({ default: 1000, minimum: 1, maximum: 1000 }),
  CUSTOS_CLEANUP_MAX_BATCHES: Type.Integer({ default: 50, minimum: 1, maximum: 100_000 }),
  CUSTOS_CLEANUP_PAUSE_MS: Type.Integer({ default: 10, minimum: 0, maximum: 60_000 }),
  CUSTOS_CONSENT_INBOX_RETENTION_DAYS: Type.Number({ default: 7, minimum: 0, maximum: 3650 }),
  CUSTOS_WEBHOOK_RETENTION_DAYS: Type.Number({ default: 30, minimum: 0, maximum: 3650 }),
  CUSTOS_WEBHOOK_DEAD_RETENTION_DAYS: Type.Number({ default: 90, minimum: 0, maximum: 3650 }),
  CUSTOS_REPORT_REMINDER_AT: Type.String({ default: '09:00', pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' }),
  CUSTOS_SESSION_IDLE_MIN: Type.Integer({ default: 30, minimum: 1, maximum: 1440 }),
  CUSTOS_SESSION_MAX_HOURS: Type.Number({ default: 12, minimum: 0.25, maximum: 720 }),
  CUSTOS_OIDC_ISSUER: Type.Optional(
    Type.String({
      pattern: '^https?://[^/?#]+(/[^?#]*)?$',
      errorMessage: 'must be the issuer URL of an OpenID Connect provider, e.g. https://id.example.com',
    }),
  ),
  CUSTOS_OIDC_CLIENT_ID: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  CUSTOS_OIDC_CLIENT_SECRET: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
  CUSTOS_OIDC_ACCOUNT_CLAIM: Type.String({ default: 'sub', minLength: 1, maxLength: 256 }),
  CUSTOS_DSR_CALENDAR_FILE: Type.Optional(Type.String({ minLength: 1 })),
  CUSTOS_DSR_ERASURE_GRACE_DAYS: Type.Number({ default: 14, minimum: 0, maximum: 30 }),
  CUSTOS_DSR_APP_DAYS: Type.Number({ default: 14, minimum: 0.0001, maximum: 30 }),
  CUSTOS_DSR_EXPORT_RETENTION_DAYS: Type.Number({ default: 30, minimum: 0.0001, maximum: 365 }),
  CUSTOS_DSR_LINK_MINUTES: Type.Integer({ default: 15, minimum: 1, maximum: 1440 }),
  CUSTOS_DSR_PART_MAX_BYTES: Type.Integer({ default: 262_144, minimum: 1024, maximum: 10_485_760 }),
  CUSTOS_RECEIPT_KEYS_DIR: Type.String({ default: './data/receipt-keys', minLength: 1 }),
  CUSTOS_CONTROLLER_NAME: Type.String({ default: 'Custos', minLength: 1, maxLength: 200 }),
  CUSTOS_CONTROLLER_CONTACT: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  CUSTOS_PRIVACY_POLICY_URL: Type.Optional(
    Type.String({
      pattern: '^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]+',
      errorMessage: 'must be an absolute http(s) URL',
    }),
  ),
  CUSTOS_NOTIFY_DAILY_QUOTA: Type.Integer({ default: 10_000, minimum: 1, maximum: 100_000_000 }),
  CUSTOS_NOTIFY_RATE_LIMIT: Type.Integer({ default: 60, minimum: 1, maximum: 1_000_000 }),
  CUSTOS_NOTIFY_RATE_WINDOW_S: Type.Integer({ default: 60, minimum: 1, maximum: 86_400 }),
  CUSTOS_NOTIFY_RETENTION_DAYS: Type.Number({ default: 30, minimum: 1, maximum: 3650 }),
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
  /** A request's headers must arrive within this long of its first byte (slow-header attacks). */
  headersTimeoutMs: number;
  /** The longest pause allowed while a request body arrives: a stalled body is cut after it. */
  bodyTimeoutMs: number;
  /** A whole request (headers and body) must arrive within this long: a trickled body is cut after it. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveTimeoutMs: number;
  /**
   * Open client connections, below the process's descriptor limit with room left for the
   * database, Redis and webhook sockets; past it the oldest idle or stalled one is closed.
   */
  maxConnections: number;
  pgPoolSize: number;
  /**
   * SQLite: how long a request's statement waits, without blocking the process, while another
   * process holds the write lock; then 503 with Retry-After.
   */
  sqliteLockWaitMs: number;
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
  /** Base URL for links in responses (`self`, default avatars); else the address Custos listens on. */
  publicUrl: string | undefined;
  /** Where mail is sent (sign-in codes, notices to people); without it, no mail is sent. */
  smtpUrl: string | undefined;
  /** The From of every mail Custos sends. */
  mailFrom: string;
  oauthTokenTtlSeconds: number;
  /** How often an app must report each account it holds (the `Cycle-Period` header, whole days). */
  reportCycleDays: number;
  /** report-accounts requests each app may make per window; 429 with Retry-After past it. */
  reportRateLimit: number;
  reportRateWindowMs: number;
  /**
   * Failed sign-ins allowed per credential key (OAuth client id, API client email, Connect
   * issuer) and per caller address within the window; past either, 429 with Retry-After.
   */
  authFailureLimit: number;
  authFailureAddressLimit: number;
  authFailureWindowSeconds: number;
  /** Shared store for rate limits across processes; in-memory (one process) when absent. */
  redisUrl: string | undefined;
  redisKeyPrefix: string;
  /** After a webhook secret rotation, the previous secret keeps signing this long. */
  webhookSecretGraceMs: number;
  /** Ed25519 key (PKCS #8 PEM) signing audit checkpoints; when absent, read or created at auditSigningKeyFile. */
  auditSigningKey: string | undefined;
  auditSigningKeyFile: string;
  /** The `audit.checkpoint` job's interval, whole seconds (a schedule's unit); 0: only on demand. */
  auditCheckpointIntervalMs: number;
  /** Where each checkpoint is also sent (Standard Webhooks, signed with auditWitnessSecret). */
  auditWitnessUrl: string | undefined;
  auditWitnessSecret: string | undefined;
  /** An append-only file, one JSON line per checkpoint, outside the database's directory. */
  auditWitnessFile: string | undefined;
  /** Email API access requests one app may file in any 24 hours; 429 with Retry-After past it. */
  accessRequestsPerDay: number;
  /** Requests in review longer than this are overdue (console, /metrics); none without it. */
  accessReviewSlaHours: number | undefined;
  /** Notification relay: recipients one app may address per UTC day, over all its requests; 429 past it. */
  notifyDailyQuota: number;
  /** Notification relay: requests one app may make per window; 429 with Retry-After past it. */
  notifyRateLimit: number;
  notifyRateWindowMs: number;
  /** Notification relay: what apps asked to send (and each recipient's state) is deleted after this long. */
  notifyRetentionMs: number;
  /** A job run not renewed for this long is taken to have died with its worker, and run again. */
  jobLeaseMs: number;
  /** Finished (succeeded or failed) job rows are deleted after this long. */
  jobRetentionMs: number;
  /** How often the clean-up jobs run (aligned to the epoch: 3600 s is on the hour). */
  cleanupIntervalMs: number;
  /** Rows deleted per clean-up transaction, batches per run, pause between batches. */
  cleanupBatchSize: number;
  cleanupMaxBatches: number;
  cleanupPauseMs: number;
  /** Applied consent inbox rows are deleted after this long; the consent events keep the proof. */
  consentInboxRetentionMs: number;
  /** Delivered webhook messages are deleted after this long (the art. 19 notices keep the outcome). */
  webhookRetentionMs: number;
  /** Dead webhook messages (no redelivery asked for) are deleted this long after their last attempt. */
  webhookDeadRetentionMs: number;
  /** The daily check (HH:MM UTC) that sends overdue apps a `reporting.overdue` webhook, once per cycle. */
  reportReminderAt: string;
  /** A person's session ends after this long without a request (OWASP ASVS V3.3). */
  sessionIdleMs: number;
  /** A session ends this long after sign-in, whatever the activity (the absolute timeout). */
  sessionMaxMs: number;
  /** The directory of consent receipts' signing keys (outside the database). */
  receiptKeysDir: string;
  /** The data controller receipts name: the operator. */
  controllerName: string;
  controllerContact: string | undefined;
  privacyPolicyUrl: string | undefined;
  /** Data-subject requests: the regime table and the working calendar (config/dsr-calendar.json). */
  dsrCalendarFile: string | undefined;
  /** How long an erasure waits, cancellable by the person, before the account is closed. */
  dsrErasureGraceMs: number;
  /** How long holding apps have to upload their part of an access export. */
  dsrAppMs: number;
  /** How long an access export is kept before it is deleted. */
  dsrExportRetentionMs: number;
  /** How long a download link of an export works. */
  dsrLinkMs: number;
  /** The largest part of an export an app may upload. */
  dsrPartMaxBytes: number;
  /** Sign-in through an upstream OpenID Connect provider; absent: not offered. */
  oidc: OidcConfig | undefined;
}

export interface OidcConfig {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The ID token claim whose value is the person's Custos accountId. */
  accountClaim: string;
}

export class ConfigError extends Error {}

const days = (n: number) => Math.round(n * 86_400_000);

const validateEnv = coercingAjv.compile<Env>(EnvSchema);

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const names = Object.keys(EnvSchema.properties);
  const input: Record<string, unknown> = {};
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value !== '') input[name] = value;
  }
  if (!validateEnv(input)) {
    const problems = problemsOf(validateEnv.errors ?? []).map((p) => `${p.path.join('.')} ${p.message}`);
    throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  const e = input as Env;
  // Node refuses a headers timeout longer than the request timeout; say so in Custos's terms.
  if (e.CUSTOS_HEADERS_TIMEOUT_MS > e.CUSTOS_REQUEST_TIMEOUT_MS) {
    throw new ConfigError(
      'Invalid configuration: CUSTOS_HEADERS_TIMEOUT_MS must not exceed CUSTOS_REQUEST_TIMEOUT_MS',
    );
  }
  const isSqlite = e.DATABASE_URL.startsWith('sqlite:');
  checkAuditWitness(e, isSqlite);
  const oidc = oidcConfig(e);
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
    headersTimeoutMs: e.CUSTOS_HEADERS_TIMEOUT_MS,
    bodyTimeoutMs: e.CUSTOS_BODY_TIMEOUT_MS,
    requestTimeoutMs: e.CUSTOS_REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs: e.CUSTOS_KEEP_ALIVE_TIMEOUT_MS,
    maxConnections: e.CUSTOS_MAX_CONNECTIONS,
    pgPoolSize: e.CUSTOS_PG_POOL_SIZE,
    sqliteLockWaitMs: e.CUSTOS_SQLITE_LOCK_WAIT_MS,
    shutdownTimeoutMs: e.CUSTOS_SHUTDOWN_TIMEOUT_MS,
    authCacheMs: e.CUSTOS_AUTH_CACHE_MS,
    allowPrivateWebhooks: e.CUSTOS_ALLOW_PRIVATE_WEBHOOKS,
    webhookTimeoutMs: e.CUSTOS_WEBHOOK_TIMEOUT_MS,
    webhookMaxAgeMs: Math.round(e.CUSTOS_WEBHOOK_MAX_AGE_HOURS * 3_600_000),
    secretKey: e.CUSTOS_SECRET_KEY,
    secretKeyFile: e.CUSTOS_SECRET_KEY_FILE,
    publicUrl: e.CUSTOS_PUBLIC_URL?.replace(/\/$/, ''),
    smtpUrl: e.CUSTOS_SMTP_URL,
    mailFrom: e.CUSTOS_MAIL_FROM,
    oauthTokenTtlSeconds: e.CUSTOS_OAUTH_TOKEN_TTL_S,
    reportCycleDays: e.CUSTOS_REPORT_CYCLE_DAYS,
    reportRateLimit: e.CUSTOS_REPORT_RATE_LIMIT,
    reportRateWindowMs: e.CUSTOS_REPORT_RATE_WINDOW_S * 1000,
    authFailureLimit: e.CUSTOS_AUTH_FAILURE_LIMIT,
    authFailureAddressLimit: e.CUSTOS_AUTH_FAILURE_ADDRESS_LIMIT,
    authFailureWindowSeconds: e.CUSTOS_AUTH_FAILURE_WINDOW_S,
    redisUrl: e.CUSTOS_REDIS_URL,
    redisKeyPrefix: e.CUSTOS_REDIS_KEY_PREFIX,
    webhookSecretGraceMs: Math.round(e.CUSTOS_WEBHOOK_SECRET_GRACE_HOURS * 3_600_000),
    auditSigningKey: e.CUSTOS_AUDIT_SIGNING_KEY,
    auditSigningKeyFile: e.CUSTOS_AUDIT_SIGNING_KEY_FILE,
    auditCheckpointIntervalMs:
      e.CUSTOS_AUDIT_CHECKPOINT_MINUTES === 0
        ? 0
        : Math.max(1, Math.round(e.CUSTOS_AUDIT_CHECKPOINT_MINUTES * 60)) * 1000,
    auditWitnessUrl: e.CUSTOS_AUDIT_WITNESS_URL,
    auditWitnessSecret: e.CUSTOS_AUDIT_WITNESS_SECRET,
    auditWitnessFile: e.CUSTOS_AUDIT_WITNESS_FILE,
    accessRequestsPerDay: e.CUSTOS_ACCESS_REQUESTS_PER_DAY,
    accessReviewSlaHours: e.CUSTOS_ACCESS_REVIEW_SLA_HOURS,
    notifyDailyQuota: e.CUSTOS_NOTIFY_DAILY_QUOTA,
    notifyRateLimit: e.CUSTOS_NOTIFY_RATE_LIMIT,
    notifyRateWindowMs: e.CUSTOS_NOTIFY_RATE_WINDOW_S * 1000,
    notifyRetentionMs: days(e.CUSTOS_NOTIFY_RETENTION_DAYS),
    jobLeaseMs: e.CUSTOS_JOB_LEASE_S * 1000,
    jobRetentionMs: days(e.CUSTOS_JOB_RETENTION_DAYS),
    cleanupIntervalMs: e.CUSTOS_CLEANUP_INTERVAL_S * 1000,
    cleanupBatchSize: e.CUSTOS_CLEANUP_BATCH_SIZE,
    cleanupMaxBatches: e.CUSTOS_CLEANUP_MAX_BATCHES,
    cleanupPauseMs: e.CUSTOS_CLEANUP_PAUSE_MS,
    consentInboxRetentionMs: days(e.CUSTOS_CONSENT_INBOX_RETENTION_DAYS),
    webhookRetentionMs: days(e.CUSTOS_WEBHOOK_RETENTION_DAYS),
    webhookDeadRetentionMs: days(e.CUSTOS_WEBHOOK_DEAD_RETENTION_DAYS),
    reportReminderAt: e.CUSTOS_REPORT_REMINDER_AT,
    sessionIdleMs: e.CUSTOS_SESSION_IDLE_MIN * 60_000,
    sessionMaxMs: Math.round(e.CUSTOS_SESSION_MAX_HOURS * 3_600_000),
    oidc,
    dsrCalendarFile: e.CUSTOS_DSR_CALENDAR_FILE,
    dsrErasureGraceMs: days(e.CUSTOS_DSR_ERASURE_GRACE_DAYS),
    dsrAppMs: days(e.CUSTOS_DSR_APP_DAYS),
    dsrExportRetentionMs: days(e.CUSTOS_DSR_EXPORT_RETENTION_DAYS),
    dsrLinkMs: e.CUSTOS_DSR_LINK_MINUTES * 60_000,
    dsrPartMaxBytes: e.CUSTOS_DSR_PART_MAX_BYTES,
    receiptKeysDir: e.CUSTOS_RECEIPT_KEYS_DIR,
    controllerName: e.CUSTOS_CONTROLLER_NAME,
    controllerContact: e.CUSTOS_CONTROLLER_CONTACT,
    privacyPolicyUrl: e.CUSTOS_PRIVACY_POLICY_URL,
  };
}

/**
 * The three settings come together or not at all. The provider is reached over https, but
 * for one on this host (a local or test provider): the ID token's trust rests on that channel.
 */
function oidcConfig(e: Env): OidcConfig | undefined {
  const {
    CUSTOS_OIDC_ISSUER: issuer,
    CUSTOS_OIDC_CLIENT_ID: clientId,
    CUSTOS_OIDC_CLIENT_SECRET: secret,
  } = e;
  if (issuer === undefined && clientId === undefined && secret === undefined) return undefined;
  if (issuer === undefined || clientId === undefined || secret === undefined)
    throw new ConfigError(
      'Invalid configuration: CUSTOS_OIDC_ISSUER, CUSTOS_OIDC_CLIENT_ID and CUSTOS_OIDC_CLIENT_SECRET go together',
    );
  const url = new URL(issuer);
  if (url.protocol !== 'https:' && !isLoopbackHost(url.hostname))
    throw new ConfigError('Invalid configuration: CUSTOS_OIDC_ISSUER must be https (http only on this host)');
  return { issuer, clientId, clientSecret: secret, accountClaim: e.CUSTOS_OIDC_ACCOUNT_CLAIM };
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/**
 * Where people reach this Custos when CUSTOS_PUBLIC_URL is not set: the address it listens on
 * (localhost for a wildcard address). Links made outside a running server (a CLI command)
 * use it as they are; the server corrects the port when PORT=0 picks one.
 */
export function configuredBaseUrl(config: Pick<Config, 'publicUrl' | 'host' | 'port'>): string {
  if (config.publicUrl) return config.publicUrl;
  const wildcard = config.host === '0.0.0.0' || config.host === '::';
  const host = wildcard ? 'localhost' : config.host.includes(':') ? `[${config.host}]` : config.host;
  return `http://${host}:${config.port}`;
}

/**
 * A witness is only worth having out of reach of whoever can change the database: a URL
 * that cannot check who sent it proves nothing, and a file beside the SQLite database is
 * lost, restored or edited with it.
 */
function checkAuditWitness(e: Env, isSqlite: boolean): void {
  if (e.CUSTOS_AUDIT_WITNESS_URL && !e.CUSTOS_AUDIT_WITNESS_SECRET)
    throw new ConfigError(
      'Invalid configuration: CUSTOS_AUDIT_WITNESS_SECRET is required with CUSTOS_AUDIT_WITNESS_URL (a whsec_… secret the witness verifies)',
    );
  const database = e.CUSTOS_AUDIT_WITNESS_FILE && isSqlite ? sqlitePath(e.DATABASE_URL) : ':memory:';
  if (e.CUSTOS_AUDIT_WITNESS_FILE && database !== ':memory:') {
    const fromDatabase = relative(dirname(database), resolve(e.CUSTOS_AUDIT_WITNESS_FILE));
    const outside = fromDatabase === '..' || fromDatabase.startsWith(`..${sep}`) || isAbsolute(fromDatabase);
    if (!outside)
      throw new ConfigError(
        'Invalid configuration: CUSTOS_AUDIT_WITNESS_FILE must be outside the database directory, where whoever can change the database cannot reach it',
      );
  }
}
