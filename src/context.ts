import { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import { AccessProgramme } from './access/access.service.js';
import { AuditLog } from './audit/audit.service.js';
import { TokenAuthenticator } from './auth/api-token.service.js';
import { AppAuthenticator } from './auth/app-auth.js';
import { OAuthService } from './auth/oauth.service.js';
import { PersonAuthenticator } from './auth/person-auth.js';
import type { Config } from './config.js';
import { countPendingRequests } from './consent/consent.repository.js';
import { ConsentService } from './consent/consent.service.js';
import { applyPendingConsents } from './consent/consent-applier.js';
import { ConsentInbox } from './consent/consent-inbox.js';
import { NoticeRegistry } from './consent/notice.service.js';
import { loadOptInPolicy } from './consent/opt-in-policy.js';
import { loadMasterKey } from './crypto/master-key.js';
import { deriveKey, SecretBox } from './crypto/secret-box.js';
import { type Database, openDatabase } from './db/dialect.js';
import { ensureMigrated } from './db/migrator.js';
import { DirectoryService } from './directory/directory.service.js';
import { DirectoryImporter } from './directory/import.service.js';
import { AppWebhookEndpoints } from './directory/webhook-endpoints.js';
import { openGeoIp } from './geo/geoip.js';
import { loggerOptions } from './logger.js';
import { OperatorService } from './operators/operator.service.js';
import { Metrics } from './ops/metrics.js';
import { ComplianceService } from './reporting/compliance.service.js';
import { ReportingService } from './reporting/reporting.service.js';
import { SessionService } from './sessions/session.service.js';
import { sessionCookie } from './sessions/session-cookie.js';
import { UserService } from './users/user.service.js';
import { WebhookDispatcher } from './webhooks/webhook-dispatcher.js';
import { Worker, type WorkerTask } from './worker/worker.js';

/**
 * The composition root: every long-lived component of a Custos process, built once from
 * the validated configuration, in dependency order (infrastructure, then domain services).
 */
export interface Context {
  config: Config;
  log: Logger;
  database: Database;
  metrics: Metrics;
  worker: Worker;
  inbox: ConsentInbox;
  tokens: TokenAuthenticator;
  consent: ConsentService;
  audit: AuditLog;
  directory: DirectoryService;
  importer: DirectoryImporter;
  oauth: OAuthService;
  appAuth: AppAuthenticator;
  users: UserService;
  access: AccessProgramme;
  reporting: ReportingService;
  compliance: ComplianceService;
  secrets: SecretBox;
  /** People's sessions; `sessions.deleteExpiredSessions(limit)` is the clean-up to schedule. */
  sessions: SessionService;
  /** Console roles (grant, revoke, list); the auth plugin reads them through `people`. */
  operators: OperatorService;
  people: PersonAuthenticator;
  /** Binds the pages' CSRF tokens to the session (src/web). */
  csrfKey: Buffer;
  /** Shared rate-limit counters when several processes run (CUSTOS_REDIS_URL). */
  redis: Redis | undefined;
  close(): Promise<void>;
}

export interface ContextOptions {
  /** Apply migrations before building services (serve on SQLite by default; tests). */
  migrate?: boolean;
  log?: Logger;
  /** The clock of people's sessions (tests move it across the timeouts). */
  now?: () => Date;
}

export async function createContext(config: Config, options: ContextOptions = {}): Promise<Context> {
  const log = options.log ?? pino(loggerOptions(config.logLevel));
  const database = openDatabase(config.databaseUrl, { pgPoolSize: config.pgPoolSize });
  try {
    const applied = await ensureMigrated(database.db, options.migrate ?? false);
    if (applied.length > 0) log.info({ migrations: applied }, 'applied migrations');
    const geoip = await openGeoIp(config.geoipDbPath);
    const optIn = loadOptInPolicy(config.optInCountriesFile);
    const metrics = new Metrics(() => countPendingRequests(database.db));
    const notices = new NoticeRegistry(database);
    await notices.reload();

    const masterKey = loadMasterKey({ key: config.secretKey, keyFile: config.secretKeyFile });
    const secrets = new SecretBox(masterKey);

    const webhooks = new WebhookDispatcher(
      database,
      new AppWebhookEndpoints(database, secrets),
      {
        allowPrivate: config.allowPrivateWebhooks,
        timeoutMs: config.webhookTimeoutMs,
        maxAgeMs: config.webhookMaxAgeMs,
        concurrency: 16,
      },
      log.child({ component: 'webhooks' }),
    );
    const audit = new AuditLog(database);
    const tasks: WorkerTask[] = [
      {
        name: 'consent-apply',
        drainOnStop: true,
        async runOnce() {
          const { applied, lagsMs } = await applyPendingConsents(database, audit);
          for (const lag of lagsMs) metrics.consentApplyLag.observe(lag / 1000);
          return applied;
        },
      },
      { name: 'webhook-deliver', runOnce: () => webhooks.runOnce() },
    ];
    const worker = new Worker(tasks, config.workerPollMs, log.child({ component: 'worker' }), (task) =>
      metrics.workerErrors.inc({ task }),
    );
    const inbox = new ConsentInbox(database, () => worker.poke());
    const consent = new ConsentService(database, notices, inbox, geoip, optIn);
    const tokens = new TokenAuthenticator(database, config.authCacheMs);

    const poke = () => worker.poke();
    const directory = new DirectoryService(database, secrets, audit, poke);
    const importer = new DirectoryImporter(database, secrets, audit, {
      allowPrivateWebhooks: config.allowPrivateWebhooks,
      onWebhooks: poke,
    });
    const oauth = new OAuthService(database, masterKey, config.oauthTokenTtlSeconds);
    const appAuth = new AppAuthenticator(database, secrets, oauth);
    const compliance = new ComplianceService(database, config.reportCycleDays);
    // The access programme's prerequisite "reports within its cycle" is read from the holdings register.
    const access = new AccessProgramme(database, audit, compliance, poke);
    const users = new UserService(database, audit, access);
    const reporting = new ReportingService(database);
    const sessions = new SessionService(
      database,
      { idleMs: config.sessionIdleMs, absoluteMs: config.sessionMaxMs },
      options.now,
    );
    const operators = new OperatorService(database, audit, directory);
    const people = new PersonAuthenticator(sessions, operators, sessionCookie(config.publicUrl).name);
    const redis = config.redisUrl
      ? new Redis(config.redisUrl, { connectTimeout: 1000, maxRetriesPerRequest: 1 })
      : undefined;

    return {
      config,
      log,
      database,
      metrics,
      worker,
      inbox,
      tokens,
      consent,
      audit,
      directory,
      importer,
      oauth,
      appAuth,
      users,
      access,
      reporting,
      compliance,
      secrets,
      sessions,
      operators,
      people,
      csrfKey: deriveKey(masterKey, 'csrf-token'),
      redis,
      async close() {
        await inbox.drain();
        await reporting.drain();
        await worker.stop();
        await redis?.quit();
        await database.close();
      },
    };
  } catch (error) {
    await database.close();
    throw error;
  }
}
