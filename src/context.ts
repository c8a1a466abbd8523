import { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import { AccessProgramme } from './access/access.service.js';
import { ApiClientService } from './api-clients/api-client.service.js';
import { auditJobs } from './audit/audit.jobs.js';
import { AuditLog } from './audit/audit.service.js';
import { type AuditCheckpoints, createAuditCheckpoints } from './audit/checkpoint.service.js';
import { TokenAuthenticator } from './auth/api-token.service.js';
import { AppAuthenticator } from './auth/app-auth.js';
import { CredentialLimiter } from './auth/credential-limiter.js';
import { OAuthService } from './auth/oauth.service.js';
import { PersonAuthenticator } from './auth/person-auth.js';
import type { Config } from './config.js';
import { consentJobs } from './consent/consent.jobs.js';
import { countPendingRequests } from './consent/consent.repository.js';
import { ConsentService } from './consent/consent.service.js';
import { applyPendingConsents } from './consent/consent-applier.js';
import { ConsentInbox } from './consent/consent-inbox.js';
import { NoticeRegistry } from './consent/notice.service.js';
import { loadOptInPolicy } from './consent/opt-in-policy.js';
import { PreferenceService } from './consent/preference.service.js';
import { ReceiptService } from './consent/receipt.service.js';
import { ConsoleService } from './console/console.service.js';
import { KeyRing } from './crypto/key-ring.js';
import { loadMasterKey } from './crypto/master-key.js';
import { deriveKey, SecretBox } from './crypto/secret-box.js';
import { type Database, openDatabase } from './db/dialect.js';
import { ensureMigrated } from './db/migrator.js';
import { AppCredentialStore } from './directory/app-credentials.js';
import { AppWebhookService } from './directory/app-webhook.service.js';
import { DirectoryService } from './directory/directory.service.js';
import { DirectoryImporter } from './directory/import.service.js';
import { AppWebhookEndpoints } from './directory/webhook-endpoints.js';
import { dsrJobs } from './dsr/dsr.jobs.js';
import { accountCopies, DsrService } from './dsr/dsr.service.js';
import { loadDsrCalendar } from './dsr/dsr-calendar.js';
import { openGeoIp } from './geo/geoip.js';
import { grantJobs } from './grants/grant.jobs.js';
import { GrantService } from './grants/grant.service.js';
import type { CleanupSettings } from './jobs/cleanup.js';
import { dailyAt, every, type JobDefinition } from './jobs/job.model.js';
import { countJobs } from './jobs/job.repository.js';
import { JobService } from './jobs/job.service.js';
import { jobRetentionJobs } from './jobs/job-retention.jobs.js';
import { JobRunner } from './jobs/job-runner.js';
import { loggerOptions, stdoutDestination } from './logger.js';
import { createMailer, type Mailer } from './mail/mailer.js';
import { notificationJobs } from './notifications/notification.jobs.js';
import { NotificationDelivery, NotificationRelay } from './notifications/notification.service.js';
import { OperatorService } from './operators/operator.service.js';
import { Metrics } from './ops/metrics.js';
import { PrivacyCentre } from './privacy/privacy.service.js';
import { AccountEventPropagation } from './propagation/propagation.service.js';
import { ComplianceService } from './reporting/compliance.service.js';
import { ReportingReminders } from './reporting/reminder.service.js';
import { reportingJobs } from './reporting/reporting.jobs.js';
import { ReportingService } from './reporting/reporting.service.js';
import { sessionJobs } from './sessions/session.jobs.js';
import { SessionService } from './sessions/session.service.js';
import { sessionCookie } from './sessions/session-cookie.js';
import { EmailCodeSignIn } from './signin/email-code.service.js';
import { LoginLinks } from './signin/login-link.service.js';
import { OidcSignIn } from './signin/oidc.service.js';
import { signInJobs } from './signin/signin.jobs.js';
import { SignInLimiter } from './signin/signin-limiter.js';
import { UserService } from './users/user.service.js';
import { webhookJobs } from './webhooks/webhook.jobs.js';
import { WebhookDispatcher } from './webhooks/webhook-dispatcher.js';
import { WebhookOutbox } from './webhooks/webhook-outbox.service.js';
import { postSignedWebhook } from './webhooks/webhook-post.js';
import { BUSY_ELSEWHERE, Worker, type WorkerTask } from './worker/worker.js';

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
  /** API clients and their tokens (operator actions). */
  apiClients: ApiClientService;
  consent: ConsentService;
  /** The consent notice registry (texts people agree to). */
  notices: NoticeRegistry;
  /** Signed consent receipts and their published keys. */
  receipts: ReceiptService;
  /** People's privacy preferences beside email consent (Global Privacy Control). */
  preferences: PreferenceService;
  audit: AuditLog;
  auditCheckpoints: AuditCheckpoints;
  directory: DirectoryService;
  importer: DirectoryImporter;
  /** Apps' webhook endpoints: secret rotation, re-enabling. */
  appWebhooks: AppWebhookService;
  /** The webhook outbox as operators see it: listing, redelivery. */
  outbox: WebhookOutbox;
  oauth: OAuthService;
  appAuth: AppAuthenticator;
  /** People's grants to apps (OAuth 2.0 authorization code): the authorization server, consent, connected apps. */
  grants: GrantService;
  users: UserService;
  access: AccessProgramme;
  reporting: ReportingService;
  compliance: ComplianceService;
  /** Enqueueing jobs (domains) and listing them (operators); the worker runs them. */
  jobs: JobService;
  secrets: SecretBox;
  /** People's sessions (their clean-up is the job `sessions.expired-cleanup`). */
  sessions: SessionService;
  /** Console roles (grant, revoke, list); the auth plugin reads them through `people`. */
  operators: OperatorService;
  /** The operator console's views (its actions call the services above). */
  console: ConsoleService;
  people: PersonAuthenticator;
  /** The privacy centre: what a signed-in person sees and changes of their own data. */
  privacy: PrivacyCentre;
  /** Mail to people over SMTP (CUSTOS_SMTP_URL); `enabled` is false without a server. */
  mailer: Mailer;
  /** The notification relay: apps mail people by account id (delivery is the job `notifications.deliver`). */
  notifications: NotificationRelay;
  /** Binds the pages' CSRF tokens to the session (src/web). */
  csrfKey: Buffer;
  /** Sign-in by emailed code (offered when `mailer.enabled`). */
  signInCodes: EmailCodeSignIn;
  /** Operator-issued one-time sign-in links (`custos login-link`, POST /admin/login-links). */
  loginLinks: LoginLinks;
  /** Sign-in through the upstream OpenID Connect provider, when CUSTOS_OIDC_ISSUER is set. */
  oidc: OidcSignIn | undefined;
  /** Data-subject requests: filing, deadlines, the workflow and its steps. */
  dsr: DsrService;
  /** Shared rate-limit and failed sign-in counters when several processes run (CUSTOS_REDIS_URL). */
  redis: Redis | undefined;
  close(): Promise<void>;
}

export interface ContextOptions {
  /** Apply migrations before building services (serve on SQLite by default; tests). */
  migrate?: boolean;
  log?: Logger;
  /** The clock of people's sessions (tests move it across the timeouts). */
  now?: () => Date;
  /**
   * false: no background work in this process, neither started nor drained at close; what
   * services hand to the worker waits for a `serve` or `worker` process. Operator commands
   * build their context so: the same services as `serve`, none of its background work.
   */
  worker?: boolean;
}

function connectRedis(url: string, log: Logger): Redis {
  const redis = new Redis(url, { connectTimeout: 1000, maxRetriesPerRequest: 1 });
  // ioredis reports every failed reconnect; once per outage is enough to tell the operator.
  let down = false;
  redis.on('error', (error: Error) => {
    if (!down) log.warn({ err: error }, 'Redis unreachable: rate limits are not shared until it is back');
    down = true;
  });
  redis.on('ready', () => {
    if (down) log.info('Redis reachable again');
    down = false;
  });
  return redis;
}

export async function createContext(config: Config, options: ContextOptions = {}): Promise<Context> {
  const log = options.log ?? pino(loggerOptions(config.logLevel), stdoutDestination());
  const database = openDatabase(config.databaseUrl, {
    pgPoolSize: config.pgPoolSize,
    lockWaitMs: config.sqliteLockWaitMs,
  });
  try {
    const applied = await ensureMigrated(database.db, options.migrate ?? false);
    if (applied.length > 0) log.info({ migrations: applied }, 'applied migrations');
    const geoip = await openGeoIp(config.geoipDbPath);
    const optIn = loadOptInPolicy(config.optInCountriesFile);
    const metrics = new Metrics(
      () => countPendingRequests(database.db),
      () => countJobs(database.db),
    );
    const audit = new AuditLog(database);
    const notices = new NoticeRegistry(database, audit);
    await notices.reload();
    const receipts = new ReceiptService(database, new KeyRing(config.receiptKeysDir, true), {
      name: config.controllerName,
      contact: config.controllerContact,
      policyUrl: config.privacyPolicyUrl,
      issuer: config.publicUrl ?? `http://${config.host}:${config.port}`,
    });

    const masterKey = loadMasterKey({ key: config.secretKey, keyFile: config.secretKeyFile });
    const secrets = new SecretBox(masterKey);

    const endpoints = new AppWebhookEndpoints(database, secrets);
    const webhooks = new WebhookDispatcher(
      database,
      endpoints,
      {
        allowPrivate: config.allowPrivateWebhooks,
        timeoutMs: config.webhookTimeoutMs,
        maxAgeMs: config.webhookMaxAgeMs,
        concurrency: 16,
      },
      log.child({ component: 'webhooks' }),
    );
    // Checkpoints go to the witness URL as signed webhooks, through the webhooks' POST.
    const auditCheckpoints = createAuditCheckpoints(
      config,
      database,
      log.child({ component: 'audit' }),
      postSignedWebhook,
    );
    const compliance = new ComplianceService(database, config.reportCycleDays);
    const mailer = createMailer(config);
    const sessions = new SessionService(
      database,
      { idleMs: config.sessionIdleMs, absoluteMs: config.sessionMaxMs },
      options.now,
    );
    // People's grants to apps (3LO): the authorization server; auth reads its tokens through a port.
    const grants = new GrantService(database, audit, secrets, {
      issuer: config.publicUrl ?? `http://localhost:${config.port}`,
      masterKey,
      accessTokenTtlSeconds: config.oauthTokenTtlSeconds,
      sessionMaxSeconds: Math.floor(config.sessionMaxMs / 1000),
      trustProxy: config.trustProxy,
      now: options.now,
    });
    const dsrCalendar = loadDsrCalendar(config.dsrCalendarFile);
    // Built below, once the services it calls exist; its jobs only run after that.
    let dsr: DsrService | undefined;
    const unsubscribeKey = deriveKey(masterKey, 'notification-unsubscribe');
    const notificationDelivery = new NotificationDelivery(
      database,
      audit,
      mailer,
      unsubscribeKey,
      config.publicUrl,
    );
    const jobDefinitions = defineJobs(config, database, {
      compliance,
      endpoints,
      auditCheckpoints,
      sessions,
      grants,
      dsr: () => {
        if (!dsr) throw new Error('the DSR service is not built yet');
        return dsr;
      },
      notificationDelivery,
    });
    const runner = new JobRunner(
      database,
      jobDefinitions,
      {
        leaseMs: config.jobLeaseMs,
        onRun(name, outcome, seconds) {
          metrics.jobRuns.inc({ name, outcome });
          metrics.jobDuration.observe({ name }, seconds);
        },
      },
      log.child({ component: 'jobs' }),
    );
    const jobs = new JobService(database, jobDefinitions);
    // After a batch that applied requests, more are likely pending (under load, always), and
    // where each statement is a round trip the look for them would cost one before the
    // transaction (SQLite's look is a call in the process). A stopping worker looks first, so
    // as not to wait for another process's turn with nothing to apply.
    let appliedLast = 0;
    const applyConsents = async (wait: boolean) => {
      const { applied, lagsMs, elsewhere } = await applyPendingConsents(database, audit, receipts, {
        wait,
        likelyPending: database.statementsAreRoundTrips && !wait && appliedLast > 0,
      });
      appliedLast = applied;
      for (const lag of lagsMs) metrics.consentApplyLag.observe(lag / 1000);
      return elsewhere ? BUSY_ELSEWHERE : applied;
    };
    const tasks: WorkerTask[] = [
      {
        name: 'consent-apply',
        drainOnStop: true,
        runOnce: () => applyConsents(false),
        drainOnce: () => applyConsents(true),
      },
      { name: 'webhook-deliver', runOnce: () => webhooks.runOnce() },
      runner.task(),
    ];
    const worker = new Worker(
      options.worker === false ? [] : tasks,
      config.workerPollMs,
      log.child({ component: 'worker' }),
      (task) => metrics.workerErrors.inc({ task }),
    );
    const inbox = new ConsentInbox(database, () => worker.poke());
    const consent = new ConsentService(database, notices, inbox, geoip, optIn, receipts);

    const poke = () => worker.poke();
    const redis = config.redisUrl ? connectRedis(config.redisUrl, log) : undefined;
    const credentialLimiter = new CredentialLimiter(
      {
        perKey: config.authFailureLimit,
        perAddress: config.authFailureAddressLimit,
        windowSeconds: config.authFailureWindowSeconds,
      },
      { redis, prefix: config.redisKeyPrefix },
      deriveKey(masterKey, 'credential-limiter'),
    );
    const tokens = new TokenAuthenticator(database, config.authCacheMs, credentialLimiter);
    const apiClients = new ApiClientService(database, audit, tokens);
    // App authentication reads apps' credentials from the directory through its port.
    const appCredentials = new AppCredentialStore(database, secrets, config.authCacheMs);
    const oauth = new OAuthService(appCredentials, masterKey, config.oauthTokenTtlSeconds, credentialLimiter);
    const appAuth = new AppAuthenticator(appCredentials, oauth, credentialLimiter, grants);
    // The access programme's prerequisite "reports within its cycle" is read from the holdings register.
    const access = new AccessProgramme(
      database,
      audit,
      compliance,
      { requestsPerDay: config.accessRequestsPerDay },
      poke,
    );
    // The directory tells apps of its changes through propagation, which records them in the
    // holdings register; it shows, and the Email API checks, the access programme's allow list;
    // closing an account or taking an app's last installation or client away ends grants.
    const accountEvents = new AccountEventPropagation(compliance);
    const directory = new DirectoryService(
      database,
      secrets,
      audit,
      { allowList: access, accountEvents, grants, sessions, copies: accountCopies },
      poke,
    );
    const importer = new DirectoryImporter(
      database,
      secrets,
      audit,
      { accountEvents, grants },
      {
        allowPrivateWebhooks: config.allowPrivateWebhooks,
        onWebhooks: poke,
      },
    );
    // GPC preferences reach the apps holding the account through propagation, as account.updated does.
    const preferences = new PreferenceService(database, audit, receipts, accountEvents);
    dsr = new DsrService(
      database,
      {
        audit,
        directory,
        consent,
        compliance,
        propagation: accountEvents,
        sessions,
        jobs,
        mailer,
        // The export lists the person's grants to apps (three-legged OAuth).
        grants: {
          listGrants: async (accountId) =>
            (await grants.listConnectedApps(accountId)).map((app) => ({ ...app })),
        },
      },
      {
        calendar: dsrCalendar,
        erasureGraceMs: config.dsrErasureGraceMs,
        appMs: config.dsrAppMs,
        exportRetentionMs: config.dsrExportRetentionMs,
        linkMs: config.dsrLinkMs,
        linkKey: deriveKey(masterKey, 'dsr-export-link'),
        publicUrl: () => config.publicUrl ?? `http://${config.host}:${config.port}`,
      },
      poke,
    );
    // The Email API refuses accounts whose processing is restricted (GDPR art. 18).
    const users = new UserService(database, audit, access, dsr);
    const reporting = new ReportingService(database);
    const operators = new OperatorService(database, audit, directory);
    const notifications = new NotificationRelay(
      database,
      audit,
      mailer,
      jobs,
      unsubscribeKey,
      {
        publicUrl: config.publicUrl,
        dailyQuota: config.notifyDailyQuota,
        rateLimit: config.notifyRateLimit,
        rateWindowMs: config.notifyRateWindowMs,
        redis,
        redisPrefix: config.redisKeyPrefix,
      },
      poke,
    );
    const people = new PersonAuthenticator(sessions, operators, sessionCookie(config.publicUrl).name);
    // Sign-in looks accounts up through the directory (its SignInAccounts port).
    const signInLog = log.child({ component: 'sign-in' });
    const signInCodes = new EmailCodeSignIn(
      database,
      audit,
      directory,
      mailer,
      new SignInLimiter({ redis, prefix: config.redisKeyPrefix }, deriveKey(masterKey, 'sign-in-limiter')),
      deriveKey(masterKey, 'sign-in-code'),
      signInLog,
      options.now,
    );
    const oidc = config.oidc && new OidcSignIn(config.oidc, directory, audit, signInLog, options.now);
    const consoleViews = new ConsoleService(
      database,
      { access, directory, compliance, checkpoints: auditCheckpoints },
      { reviewSlaHours: config.accessReviewSlaHours, reportCycleDays: config.reportCycleDays },
    );
    metrics.trackAccessReview(() => consoleViews.reviewCounts());
    const privacy = new PrivacyCentre(database, {
      directory,
      consent,
      compliance,
      allowList: access,
      audit,
      sessions,
    });

    return {
      config,
      log,
      database,
      metrics,
      worker,
      inbox,
      tokens,
      apiClients,
      consent,
      notices,
      receipts,
      preferences,
      audit,
      auditCheckpoints,
      directory,
      importer,
      appWebhooks: new AppWebhookService(database, secrets, audit, config.webhookSecretGraceMs),
      outbox: new WebhookOutbox(database, audit, poke),
      oauth,
      appAuth,
      grants,
      users,
      access,
      reporting,
      compliance,
      jobs,
      secrets,
      sessions,
      operators,
      console: consoleViews,
      people,
      privacy,
      mailer,
      notifications,
      csrfKey: deriveKey(masterKey, 'csrf-token'),
      signInCodes,
      loginLinks: new LoginLinks(database, audit, directory, options.now),
      oidc,
      dsr,
      redis,
      async close() {
        await inbox.drain();
        await signInCodes.drain();
        await reporting.drain();
        await worker.stop();
        await redis?.quit();
        mailer.close();
        await database.close();
      },
    };
  } catch (error) {
    await database.close();
    throw error;
  }
}

/**
 * Every domain's job definitions (each defined in its own folder), with the settings they
 * take from the configuration. The runner only runs jobs listed here.
 */
function defineJobs(
  config: Config,
  database: Database,
  services: {
    compliance: ComplianceService;
    endpoints: AppWebhookEndpoints;
    auditCheckpoints: AuditCheckpoints;
    sessions: SessionService;
    grants: GrantService;
    dsr: () => DsrService;
    notificationDelivery: NotificationDelivery;
  },
): JobDefinition[] {
  const { compliance, endpoints } = services;
  const cleanup: CleanupSettings = {
    schedule: every(config.cleanupIntervalMs),
    limits: {
      batchSize: config.cleanupBatchSize,
      maxBatches: config.cleanupMaxBatches,
      pauseMs: config.cleanupPauseMs,
    },
  };
  const reminders = new ReportingReminders(database, compliance, endpoints, config.reportCycleDays);
  return [
    ...consentJobs(database, cleanup, config.consentInboxRetentionMs),
    // The art. 19 notices keep the outcome of the messages purged.
    ...webhookJobs(database, compliance, cleanup, {
      deliveredMs: config.webhookRetentionMs,
      deadMs: config.webhookDeadRetentionMs,
    }),
    ...reportingJobs(reminders, dailyAt(config.reportReminderAt)),
    ...jobRetentionJobs(database, cleanup, config.jobRetentionMs),
    ...sessionJobs(services.sessions, cleanup),
    ...signInJobs(database, cleanup),
    ...grantJobs(services.grants, cleanup),
    // Reminders and the attention list on the clean-up interval (hourly by default).
    ...dsrJobs(database, services.dsr, cleanup.schedule, cleanup),
    ...notificationJobs(database, services.notificationDelivery, cleanup, config.notifyRetentionMs),
    // 0 minutes: checkpoints on demand only.
    ...auditJobs(
      services.auditCheckpoints,
      config.auditCheckpointIntervalMs > 0 ? every(config.auditCheckpointIntervalMs) : undefined,
    ),
  ];
}
