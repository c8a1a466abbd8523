import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkPage,
  launchBrowser,
  type ServedApp,
  serveTestApp,
  signedInContext,
} from '../helpers/browser.js';
import { importExample, oauthToken, SECRETS } from '../helpers/directory.js';
import { Mailbox } from '../helpers/mailbox.js';
import { until } from '../helpers/wait.js';
import { personId, relayDirectory } from './relay-fixture.js';

describe('the relay’s pages in a real browser', () => {
  let t: ServedApp;
  let box: Mailbox;
  let browser: Browser;

  beforeAll(async () => {
    box = await Mailbox.start();
    t = await serveTestApp({ CUSTOS_SMTP_URL: box.url });
    await importExample(t, relayDirectory());
    browser = await launchBrowser();
    // Timesheets sends person 0 two kinds of notification, so the page has categories to show.
    const token = await oauthToken(t, 'timesheets', SECRETS.timesheetsClient);
    for (const category of ['reminders', 'approvals']) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/app/notifications',
        headers: { authorization: `Bearer ${token}` },
        payload: {
          accountIds: [personId(0)],
          subject: 'Hello',
          text: 'Hello',
          category,
          idempotencyKey: category,
        },
      });
      expect(res.statusCode).toBe(202);
    }
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await box?.close();
  });

  it('lets a person turn an app’s notifications and categories off, with the keyboard', async () => {
    const timesheets = async () =>
      (await t.ctx.notifications.listChoices(personId(0))).find((c) => c.appKey === 'com.vendor.timesheets');
    await until(async () => (await timesheets())?.categories.length === 2, {
      timeoutMs: 30_000,
      message: 'both categories recorded',
    });
    const context = await signedInContext(browser, t, personId(0));
    const page = await context.newPage();
    await page.goto('/privacy/notifications');
    await checkPage(page, 'privacy-notifications');
    const section = page.getByRole('region', { name: 'Timesheets' });
    await section.getByLabel('approvals').uncheck();
    await section.getByRole('button', { name: 'Save choices for Timesheets' }).press('Enter');
    await page.waitForURL(/saved=/);
    expect(await page.getByRole('status').textContent()).toBe('Your choices for Timesheets are saved.');
    expect(await page.getByRole('region', { name: 'Timesheets' }).getByLabel('approvals').isChecked()).toBe(
      false,
    );
    expect(await page.getByRole('region', { name: 'Timesheets' }).getByLabel('reminders').isChecked()).toBe(
      true,
    );
    await checkPage(page, 'privacy-notifications-saved');
    await context.close();
  }, 120_000);

  it('shows the unsubscribe confirm page without a sign-in, and turns the app off', async () => {
    const link = new URL(
      t.ctx.notifications.unsubscribeUrl({ accountId: personId(1), appKey: 'com.vendor.mailer' }),
    );
    const context = await browser.newContext({ baseURL: t.baseUrl });
    const page = await context.newPage();
    await page.goto(`${link.pathname}${link.search}`);
    await checkPage(page, 'notifications-unsubscribe');
    await page.getByRole('button', { name: 'Stop notifications from Mailer' }).click();
    await page.getByRole('heading', { name: 'Notifications from Mailer are off' }).waitFor();
    await checkPage(page, 'notifications-unsubscribed');
    const choices = await t.ctx.notifications.listChoices(personId(1));
    expect(choices.find((c) => c.appKey === 'com.vendor.mailer')?.enabled).toBe(false);
    await context.close();
  }, 120_000);
});
