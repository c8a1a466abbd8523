import pino, { type Logger } from 'pino';
import { TokenAuthenticator } from './auth/api-token.service.js';
import type { Config } from './config.js';
import { countPendingRequests } from './consent/consent.repository.js';
import { ConsentService } from './consent/consent.service.js';
import { applyPendingConsents } from './consent/consent-applier.js';
import { ConsentInbox } from './consent/consent-inbox.js';
import { NoticeRegistry } from './consent/notice.service.js';
import { loadOptInPolicy } from './consent/opt-in-policy.js';
import { type Database, openDatabase } from './db/dialect.js';
import { ensureMigrated } from './db/migrator.js';
import { openGeoIp } from './geo/geoip.js';
import { loggerOptions } from './logger.js';
import { Metrics } from './ops/metrics.js';
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
  close(): Promise<void>;
}

export interface ContextOptions {
  /** Apply migrations before building services (serve on SQLite by default; tests). */
  migrate?: boolean;
  log?: Logger;
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

    const tasks: WorkerTask[] = [
      {
        name: 'consent-apply',
        async runOnce() {
          const { applied, lagsMs } = await applyPendingConsents(database);
          for (const lag of lagsMs) metrics.consentApplyLag.observe(lag / 1000);
          return applied;
        },
      },
    ];
    const worker = new Worker(tasks, config.workerPollMs, log.child({ component: 'worker' }), (task) =>
      metrics.workerErrors.inc({ task }),
    );
    const inbox = new ConsentInbox(database, () => worker.poke());
    const consent = new ConsentService(database, notices, inbox, geoip, optIn);
    const tokens = new TokenAuthenticator(database, config.authCacheMs);

    return {
      config,
      log,
      database,
      metrics,
      worker,
      inbox,
      tokens,
      consent,
      async close() {
        await inbox.drain();
        await worker.stop();
        await database.close();
      },
    };
  } catch (error) {
    await database.close();
    throw error;
  }
}
