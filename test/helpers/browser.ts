import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import type { Result as Violation } from 'axe-core';
import {
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  chromium,
  type Page,
} from 'playwright-core';
import { sessionCookie } from '../../src/sessions/session-cookie.js';
import { createTestApp, type TestApp, type TestAppOptions } from './app.js';

/**
 * Browser tests drive a real Chromium: the system's (Debian's `chromium`, which `.ci/run`
 * installs when missing), never a downloaded one. CUSTOS_TEST_CHROMIUM points elsewhere.
 */
export const CHROMIUM_PATH = process.env.CUSTOS_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** Where the test run writes one screenshot per page it checks (not committed), for a reviewer. */
export const SCREENSHOT_DIR = join(process.cwd(), 'test-results', 'screenshots');

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}

/** A free TCP port on the loopback interface, so the app can know its public address before it listens. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') return reject(new Error('no port'));
      server.close(() => resolve(address.port));
    });
  });
}

export interface ServedApp extends TestApp {
  /** The app's public address, e.g. `http://127.0.0.1:41234` (no trailing slash). */
  baseUrl: string;
}

/**
 * The real app listening on real HTTP at a loopback address that is also its configured
 * public URL (links, cookie scope and origin checks all agree with what the browser sees).
 */
export async function serveTestApp(
  env: Record<string, string> = {},
  options: TestAppOptions = {},
): Promise<ServedApp> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const t = await createTestApp({ CUSTOS_PUBLIC_URL: baseUrl, ...env }, options);
  await t.app.listen({ host: '127.0.0.1', port });
  return Object.assign(t, { baseUrl });
}

/**
 * A new browser context signed in as `accountId`: a session made through the sessions
 * service, exactly as sign-in makes one, its token in the session cookie. Tests of sign-in
 * itself sign in through the pages instead.
 */
export async function signedInContext(
  browser: Browser,
  t: ServedApp,
  accountId: string,
  /** More of the context's settings, e.g. `extraHTTPHeaders` a browser sends with every request. */
  options: BrowserContextOptions = {},
): Promise<BrowserContext> {
  const context = await browser.newContext({ ...options, baseURL: t.baseUrl });
  await signInBrowser(context, t, accountId);
  return context;
}

/**
 * Signs `accountId` in on a browser context that may hold someone else's session (a shared
 * computer): a new session as sign-in makes one, its cookie replacing the one there.
 */
export async function signInBrowser(context: BrowserContext, t: ServedApp, accountId: string): Promise<void> {
  const { token } = await t.ctx.sessions.create(accountId, { userAgent: 'browser test' });
  const cookie = sessionCookie(t.ctx.config.publicUrl);
  await context.addCookies([
    { name: cookie.name, value: token, url: t.baseUrl, httpOnly: true, sameSite: 'Lax' },
  ]);
}

/**
 * Checks the page as it stands: no serious or critical axe-core violation, and writes its
 * screenshot as `<name>.png`; a failure names each violation and where it is.
 */
export async function checkPage(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations
    .filter((v: Violation) => v.impact === 'serious' || v.impact === 'critical')
    .map((v: Violation) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  if (serious.length > 0) throw new Error(`${name}: accessibility violations:\n${serious.join('\n')}`);
}
