import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import { type App, buildApp } from '../../src/app.js';
import type { AuditActor } from '../../src/audit/audit.service.js';
import { CONSENT_HUB_SCOPE } from '../../src/auth/scopes.js';
import { loadConfig } from '../../src/config.js';
import { type Context, type ContextOptions, createContext } from '../../src/context.js';
import { loggerOptions } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { TEST_AUDIT_SIGNING_KEY_FILE, TEST_RECEIPT_KEYS_DIR } from './process.js';
import { until } from './wait.js';

export interface TestApp {
  app: App;
  ctx: Context;
  database: TestDatabase;
  /** Every log line the app wrote, for checking what logs must never contain. */
  logs: string[];
  close(): Promise<void>;
}

export interface TestAppOptions {
  /** The sessions' clock. */
  now?: ContextOptions['now'];
  /** Registers the test's own plugins (routes only tests need) before the app is ready. */
  register?: (app: App, ctx: Context) => Promise<void>;
}

/** The real app on a fresh database of the engine under test, migrated, with logging captured. */
export async function createTestApp(
  env: Record<string, string> = {},
  options: TestAppOptions = {},
): Promise<TestApp> {
  const database = await createTestDatabase();
  const config = loadConfig({
    DATABASE_URL: database.url,
    LOG_LEVEL: 'info',
    // A key per test app: secrets at rest never touch a key file in the work tree.
    CUSTOS_SECRET_KEY: randomBytes(32).toString('base64'),
    CUSTOS_AUDIT_SIGNING_KEY_FILE: TEST_AUDIT_SIGNING_KEY_FILE,
    CUSTOS_RECEIPT_KEYS_DIR: TEST_RECEIPT_KEYS_DIR,
    ...env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, callback) {
      logs.push(String(chunk));
      callback();
    },
  });
  const log = pino(loggerOptions(config.logLevel), sink);
  const ctx = await createContext(config, { migrate: true, log, now: options.now });
  const app = await buildApp(ctx);
  await options.register?.(app, ctx);
  await app.ready();
  if (config.inProcessWorker) ctx.worker.start();
  return {
    app,
    ctx,
    database,
    logs,
    async close() {
      await app.close();
      await ctx.close();
      await database.drop();
    },
  };
}

export function basic(email: string, token: string): string {
  return `Basic ${Buffer.from(`${email}:${token}`).toString('base64')}`;
}

/** Who the audit log names for what tests set up through the services. */
export const TEST_OPERATOR: AuditActor = { type: 'operator', id: 'test' };

/** A token for an API client, made as an operator would (through the service, audited). */
export function createToken(t: TestApp, input: { email: string; scopes: string[]; label?: string }) {
  return t.ctx.apiClients.createToken(input, TEST_OPERATOR);
}

/** A consent-hub client: returns the Authorization header value for a fresh token. */
export async function consentClient(t: TestApp, email = 'client@example.com', scopes = [CONSENT_HUB_SCOPE]) {
  const { token, tokenId } = await createToken(t, { email, scopes });
  return { authorization: basic(email, token), token, tokenId, email };
}

/** A test app with a ConsentHub client: the setup most ConsentHub suites share. */
export async function createConsentTestApp(env: Record<string, string> = {}) {
  const t = await createTestApp(env);
  return { t, auth: (await consentClient(t)).authorization };
}

export const GMOI_TEXT =
  'Yes, I would like to receive promotional emails including product news, events, and more from Atlassian and its affiliates.';

/** Waits until every accepted consent request has been applied. */
export async function waitForApplied(t: TestApp, timeoutMs = 5000): Promise<void> {
  const { countPendingRequests } = await import('../../src/consent/consent.repository.js');
  await until(async () => (await countPendingRequests(t.ctx.database.db)) === 0, {
    timeoutMs,
    intervalMs: 5,
    message: 'the accepted consent requests to be applied',
  });
}
