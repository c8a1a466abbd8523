import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAuditEvents } from '../../src/audit/audit.repository.js';
import { ADMIN_SCOPE } from '../../src/auth/scopes.js';
import {
  checkPage,
  launchBrowser,
  type ServedApp,
  serveTestApp,
  signedInContext,
} from '../helpers/browser.js';
import {
  consoleDirectory,
  grantConsoleRoles,
  insertDeadLetter,
  OPERATOR_IDS,
  requestInReview,
} from '../helpers/console.js';
import { ADA, CLOSED_ID, getAsInstallation, importExample, SECRETS } from '../helpers/directory.js';
import { until } from '../helpers/wait.js';
import { startReceiver } from '../helpers/webhook-receiver.js';

const SECRET = `whsec_${Buffer.from('endpoint-secret-of-thirty-two-b!').toString('base64')}`;
const MAILER = 'com.vendor.mailer';
const TIMESHEETS = 'com.vendor.timesheets';
const REVIEWER = OPERATOR_IDS.reviewer;
const OFFICER = OPERATOR_IDS['privacy-officer'];
const AUDITOR = OPERATOR_IDS.auditor;

let t: ServedApp;
let browser: Browser;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  receiver = await startReceiver(SECRET);
  t = await serveTestApp({
    CUSTOS_ALLOW_PRIVATE_WEBHOOKS: 'true',
    CUSTOS_WORKER_POLL_MS: '10',
    CUSTOS_ACCESS_REVIEW_SLA_HOURS: '48',
  });
  const file = consoleDirectory();
  for (const app of file.apps ?? []) app.webhook = { url: receiver.url, secret: SECRET };
  await importExample(t, file);
  await grantConsoleRoles(t);
  browser = await launchBrowser();
});
afterAll(async () => {
  for (const c of contexts) await c.close();
  await browser?.close();
  await t?.close();
  await receiver?.close();
});

async function pageAs(accountId: string): Promise<Page> {
  const context = await signedInContext(browser, t, accountId);
  contexts.push(context);
  return context.newPage();
}

const mailerEmail = () =>
  getAsInstallation(t, 'mailer-acme', SECRETS.mailerAcme, `/rest/api/3/user/email?accountId=${ADA}`);

/** Audit entries of `action` and who they name. */
async function actorsOf(action: string): Promise<string[]> {
  return (await listAuditEvents(t.ctx.database.db, { action })).map((e) => `${e.actor_type}:${e.actor_id}`);
}

// A real browser on a busy shared machine: generous time per test.
describe('the console in a real browser', { timeout: 180_000 }, () => {
  it('shows the overview with what needs attention', async () => {
    const page = await pageAs(OFFICER);
    const res = await page.goto('/console');
    expect(res?.status()).toBe(200);
    await expect(page.getByRole('heading', { level: 1 })).toBeTruthy();
    expect(await page.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents()).toEqual([
      'Overview',
      'Access review',
      'Apps',
      'Data-subject requests',
      'Notifications',
      'Accounts',
      'Audit log',
      'Notices',
      'API clients',
    ]);
    await checkPage(page, 'console-home');
  });

  it('a reviewer approves a request and the app’s next Email API call answers 200', async () => {
    const id = await requestInReview(t, MAILER);
    expect((await mailerEmail()).statusCode).not.toBe(200);
    const page = await pageAs(REVIEWER);
    await page.goto('/console/access');
    const request = page.getByRole('article', { name: /Mailer/ });
    await expect(request.getByText('waiting')).toBeTruthy();
    await checkPage(page, 'console-review-queue');

    await request
      .getByLabel(/Reason for your decision on Mailer/)
      .fill('Transactional mail only, policy checked');
    await request.getByRole('button', { name: 'Approve' }).click();
    await page.waitForURL(/done=approved/);
    expect(await page.getByRole('status').textContent()).toContain('approved');
    expect((await mailerEmail()).statusCode).toBe(200);
    expect(await actorsOf('access.approved')).toEqual([`operator:${REVIEWER}`]);
    expect((await t.ctx.access.get(id)).reason).toBe('Transactional mail only, policy checked');
  });

  it('a reviewer rejects a request with a reason, and revokes an approved app', async () => {
    const id = await requestInReview(t, TIMESHEETS, 'Timesheets');
    const page = await pageAs(REVIEWER);
    await page.goto('/console/access');
    const request = page.getByRole('article', { name: /Timesheets/ });
    await request.getByLabel(/Reason for your decision/).fill('The use case is marketing');
    await request.getByRole('button', { name: 'Reject' }).click();
    await page.waitForURL(/done=rejected/);
    expect((await t.ctx.access.get(id)).status).toBe('rejected');

    await page.getByLabel('Reason for revoking Mailer').fill('Complaints about unsolicited mail');
    await page.getByRole('button', { name: 'Revoke Mailer' }).click();
    await page.waitForURL(/done=revoked/);
    expect((await mailerEmail()).statusCode).not.toBe(200);
    expect(await actorsOf('access.revoked')).toEqual([`operator:${REVIEWER}`]);
    const history = page.getByRole('region', { name: 'Decided' });
    // The approved request is now the revoked one: header, revoked, rejected.
    expect(await history.getByRole('row').allTextContents()).toEqual([
      expect.stringContaining('Reason'),
      expect.stringMatching(/Mailer[\s\S]*revoked[\s\S]*Complaints about unsolicited mail/),
      expect.stringMatching(/Timesheets[\s\S]*rejected[\s\S]*The use case is marketing/),
    ]);
  });

  it('a privacy officer redelivers a dead letter and it reaches the app', async () => {
    await insertDeadLetter(t, TIMESHEETS, 'msg_dead_console_1');
    const page = await pageAs(OFFICER);
    await page.goto('/console/apps');
    await checkPage(page, 'console-apps');
    await page.getByRole('link', { name: 'Timesheets' }).click();
    await page.waitForURL(/\/console\/apps\/com\.vendor\.timesheets/);
    await checkPage(page, 'console-app');
    await page.getByRole('button', { name: 'Redeliver msg_dead_console_1' }).click();
    await page.waitForURL(/done=redelivered/);
    await until(() => receiver.unique.has('msg_dead_console_1'), { message: 'the redelivered message' });
    expect(await actorsOf('admin.webhooks-requeued')).toEqual([`operator:${OFFICER}`]);
  });

  it('a privacy officer looks an account up (audited) and closes it after confirming', async () => {
    const page = await pageAs(OFFICER);
    await page.goto('/console/accounts');
    await checkPage(page, 'console-accounts');
    await page.getByLabel('accountId').fill(CLOSED_ID);
    await page.getByRole('button', { name: 'Look up' }).click();
    await page.waitForURL(new RegExp(`/console/accounts/${CLOSED_ID}`));
    expect(await page.getByRole('cell', { name: 'leaver@acme.test' }).count()).toBe(1);
    await checkPage(page, 'console-account');
    expect(await actorsOf('admin.account-viewed')).toContain(`operator:${OFFICER}`);

    await page.getByLabel(/Type the accountId/).fill(CLOSED_ID);
    await page.getByRole('button', { name: 'Close the account' }).click();
    await page.waitForURL(/done=closed/);
    expect((await t.ctx.directory.getAccount(CLOSED_ID)).active).toBe(false);
    expect(await actorsOf('account.closed')).toEqual([`operator:${OFFICER}`]);
  });

  it('a privacy officer creates a token, shown once, that works until revoked', async () => {
    const page = await pageAs(OFFICER);
    await page.goto('/console/clients');
    await page.getByLabel('Client email').fill('reports@operator.test');
    await page.getByLabel('Label (optional)').fill('Reports');
    await page.getByRole('checkbox', { name: new RegExp(ADMIN_SCOPE) }).check();
    await page.getByRole('button', { name: 'Create the token' }).click();
    const token = (await page.locator('#new-token').textContent())?.trim() ?? '';
    expect(token.length).toBeGreaterThan(20);
    await checkPage(page, 'console-clients');
    const asClient = () =>
      t.app.inject({
        method: 'GET',
        url: '/admin/audit-events?limit=1',
        headers: {
          authorization: `Basic ${Buffer.from(`reports@operator.test:${token}`).toString('base64')}`,
        },
      });
    expect((await asClient()).statusCode).toBe(200);

    await page.goto('/console/clients');
    expect(await page.locator('#new-token').count()).toBe(0);
    await page.getByRole('button', { name: 'Revoke token Reports' }).click();
    await page.waitForURL(/done=token-revoked/);
    expect((await asClient()).statusCode).toBe(401);
    expect(await actorsOf('admin.token-revoked')).toEqual([`operator:${OFFICER}`]);
  });

  it('adds a consent notice version', async () => {
    const page = await pageAs(OFFICER);
    await page.goto('/console/notices');
    await page.getByLabel('Version').fill('2026-12');
    await page.getByLabel(/Text, exactly as shown/).fill('Yes, send me news about products and events.');
    await page.getByRole('button', { name: 'Add the version' }).click();
    await page.waitForURL(/done=notice-added/);
    expect(await page.getByRole('cell', { name: '2026-12', exact: true }).count()).toBe(1);
    await checkPage(page, 'console-notices');
  });

  it('an auditor filters the audit log and verifies the chain', async () => {
    const page = await pageAs(AUDITOR);
    await page.goto('/console/audit');
    await page.getByLabel('Action').fill('access.approved');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/action=access\.approved/);
    const rows = page.getByRole('region', { name: 'Entries, newest first' }).getByRole('row');
    await until(async () => (await rows.count()) === 2, { message: 'the filtered entries' });
    expect(await rows.nth(1).textContent()).toContain(REVIEWER);
    await checkPage(page, 'console-audit');

    await page.getByRole('button', { name: 'Verify the chain' }).click();
    expect(await page.getByRole('status').first().textContent()).toContain('The chain is intact');
  });

  it('an auditor sees no decision controls and is refused the decision itself', async () => {
    const id = await requestInReview(t, MAILER);
    const page = await pageAs(AUDITOR);
    await page.goto('/console/access');
    expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0);
    // The page's own CSRF token, as a script on the page would send it: only the role is missing.
    const headers = JSON.parse((await page.locator('body').getAttribute('hx-headers')) ?? '{}');
    const refusal = await page.request.post(`/console/access/requests/${id}/approve`, {
      headers,
      form: { reason: 'auditors cannot' },
    });
    const status = refusal.status();
    expect(status).toBe(403);
    expect((await t.ctx.access.get(id)).status).toBe('in-review');

    const refused = await page.goto('/console/clients/tokens', { waitUntil: 'load' });
    expect(refused?.status()).toBe(404); // only POST exists there
    const reviewer = await pageAs(REVIEWER);
    const forbidden = await reviewer.goto('/console/audit');
    expect(forbidden?.status()).toBe(403);
    expect(await reviewer.getByRole('heading', { level: 1 }).textContent()).toBe('Not allowed');
    await checkPage(reviewer, 'console-refused');

    // A way on, from the keyboard: the console home their role still opens.
    const wayOn = reviewer.getByRole('region', { name: 'Where you can go' });
    expect(await wayOn.getByRole('link').allTextContents()).toEqual(['Console home', 'Your privacy centre']);
    await wayOn.getByRole('link', { name: 'Console home' }).focus();
    await Promise.all([reviewer.waitForURL(/\/console$/), reviewer.keyboard.press('Enter')]);
    expect(await reviewer.getByRole('heading', { level: 1 }).textContent()).toBe('Console');
  });

  it('a person without a console role is pointed to their privacy centre, or signs in as someone else', async () => {
    const page = await pageAs(ADA);
    const refused = await page.goto('/console');
    expect(refused?.status()).toBe(403);
    const wayOn = page.getByRole('region', { name: 'Where you can go' });
    expect(await wayOn.getByRole('link').allTextContents()).toEqual(['Your privacy centre']);
    await checkPage(page, 'console-refused-no-role');
    await Promise.all([
      page.waitForURL(/\/login$/),
      wayOn.getByRole('button', { name: 'Sign in as someone else' }).click(),
    ]);
    expect((await page.goto('/privacy'))?.url()).toMatch(/\/login\?next=%2Fprivacy$/);
  });
});
