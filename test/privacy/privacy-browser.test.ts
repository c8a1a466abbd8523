import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveForEmailApi } from '../helpers/access.js';
import {
  checkPage,
  launchBrowser,
  type ServedApp,
  serveTestApp,
  signedInContext,
} from '../helpers/browser.js';
import { ADA, getAsInstallation, importExample, SECRETS, userUrl } from '../helpers/directory.js';
import { accounts, reportWithBearer, timesheetsToken } from '../helpers/reporting.js';

let t: ServedApp;
let browser: Browser;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  t = await serveTestApp();
  await importExample(t);
  browser = await launchBrowser();
  context = await signedInContext(browser, t, ADA);
  page = await context.newPage();
});
afterAll(async () => {
  await context?.close();
  await browser?.close();
  await t?.close();
});

/** Ada's email as Timesheets (installed on her site) sees it on its next user API call. */
async function emailSeenByApp(): Promise<string | undefined> {
  const res = await getAsInstallation(t, 'ts-acme-1', SECRETS.tsAcme, userUrl(ADA));
  expect(res.statusCode).toBe(200);
  return res.json().emailAddress;
}

/** Presses Tab until the element matching `selector` has the focus, as a keyboard user would. */
async function tabTo(selector: string): Promise<void> {
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press('Tab');
    if ((await page.locator(`${selector}:focus`).count()) > 0) return;
  }
  throw new Error(`${selector} never got the focus by Tab`);
}

/** Chooses an option of the focused select with the keyboard: type-ahead on its first letter. */
async function chooseByKeyboard(selector: string, label: string): Promise<void> {
  await tabTo(selector);
  await page.keyboard.type(label.slice(0, 1));
  expect(await page.locator(`${selector} option:checked`).textContent()).toBe(label);
}

describe('the privacy centre in a browser', { timeout: 240_000 }, () => {
  it('profile: a person makes their email public with the keyboard, the app sees it, then private again', async () => {
    await page.goto('/privacy');
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(
      'Your profile and who can see it',
    );
    expect(await page.getByLabel('Email address').inputValue()).toBe('private');
    // The organization as people know it, by its name.
    expect(
      await page
        .getByRole('row', { name: /^Organization/ })
        .getByRole('cell')
        .first()
        .textContent(),
    ).toBe('Acme');
    await checkPage(page, 'privacy-profile');
    expect(await emailSeenByApp()).toBeUndefined();

    await page.keyboard.press('Tab'); // the skip link comes first
    await chooseByKeyboard('#visibility-email', 'Anyone, apps included');
    await tabTo('.visibility-form button[type="submit"]');
    await Promise.all([page.waitForURL('**/privacy?done=saved'), page.keyboard.press('Enter')]);
    expect(await page.getByRole('status').textContent()).toContain('Saved.');
    await checkPage(page, 'privacy-profile-saved');
    expect(await emailSeenByApp()).toBe('ada@acme.test');

    await page.getByLabel('Email address').selectOption('private');
    await Promise.all([
      page.waitForURL('**/privacy?done=saved'),
      page.getByRole('button', { name: 'Save my choices' }).click(),
    ]);
    expect(await emailSeenByApp()).toBeUndefined();
  });

  it('marketing emails: yes in one click, no in one click', async () => {
    await page.goto('/privacy/consent');
    await checkPage(page, 'privacy-consent');
    await Promise.all([
      page.waitForURL('**/privacy/consent?done=given'),
      page.getByRole('button', { name: 'Yes, I agree' }).click(),
    ]);
    expect(await page.locator('main').textContent()).toContain('Yes, you agreed.');
    await checkPage(page, 'privacy-consent-given');
    await Promise.all([
      page.waitForURL('**/privacy/consent?done=withdrawn'),
      page.getByRole('button', { name: 'No, stop these emails' }).click(),
    ]);
    expect(await page.locator('main').textContent()).toContain('No, you said no.');
  });

  it('apps with my data: the register, the Email API apps and the disclosures', async () => {
    const report = await reportWithBearer(
      t,
      await timesheetsToken(t),
      accounts([ADA, '2026-11-01T00:00:00Z']),
    );
    expect([200, 204]).toContain(report.statusCode);
    await t.ctx.reporting.drain();
    await approveForEmailApi(t, 'com.vendor.mailer');
    const read = await getAsInstallation(
      t,
      'mailer-acme',
      SECRETS.mailerAcme,
      `/rest/api/3/user/email?accountId=${ADA}`,
    );
    expect(read.statusCode).toBe(200);

    await page.goto('/privacy/apps');
    const main = (await page.locator('main').textContent()) ?? '';
    expect(main).toContain('Timesheets');
    expect(main).toContain('Mailer');
    await checkPage(page, 'privacy-apps');
  });

  it('sessions: sign out another device, then every other one', async () => {
    await t.ctx.sessions.create(ADA, {
      userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Mobile Safari/604.1',
    });
    await t.ctx.sessions.create(ADA, { userAgent: 'Mozilla/5.0 (Windows NT 10.0) Chrome/120.0' });
    await page.goto('/privacy/sessions');
    await checkPage(page, 'privacy-sessions');
    await Promise.all([
      page.waitForURL('**/privacy/sessions?done=session-ended'),
      page.getByRole('button', { name: /^Sign out Safari on iOS/ }).click(),
    ]);
    expect(await page.locator('main').textContent()).not.toContain('Safari on iOS');
    await Promise.all([
      page.waitForURL('**/privacy/sessions?done=others-ended'),
      page.getByRole('button', { name: 'Sign out all other devices' }).click(),
    ]);
    expect(await t.ctx.sessions.list(ADA)).toHaveLength(1);
    expect(await page.locator('main').textContent()).toContain('This device');
  });
});
