import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consentClient, GMOI_TEXT, waitForApplied } from '../helpers/app.js';
import {
  checkPage,
  launchBrowser,
  type ServedApp,
  serveTestApp,
  signedInContext,
} from '../helpers/browser.js';
import {
  ACTIVE_ID,
  ADA,
  CLOSED_ID,
  exampleDirectory,
  GINA,
  importExample,
  oauthToken,
  SECRETS,
} from '../helpers/directory.js';
import { accounts, now, reportWithBearer, timesheetsToken } from '../helpers/reporting.js';
import { until } from '../helpers/wait.js';
import { startReceiver } from '../helpers/webhook-receiver.js';

const SECRET = `whsec_${Buffer.from('dsr-browser-secret-of-32-bytes!!').toString('base64')}`;
const OFFICER = GINA;
const TIMESHEETS = 'com.vendor.timesheets';

let t: ServedApp;
let browser: Browser;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let officer: BrowserContext;

async function requestOf(accountId: string, type: string) {
  const [r] = await t.ctx.dsr.list({ accountId, type });
  if (!r) throw new Error(`no ${type} request of ${accountId}`);
  return r;
}

async function fileInPrivacyCentre(person: BrowserContext, type: string, details?: string) {
  const page = await person.newPage();
  page.setDefaultTimeout(8000);
  await page.goto('/privacy/requests');
  await page.getByLabel(new RegExp(`^${type}`, 'i')).check();
  if (details) await page.getByLabel(/Details/).fill(details);
  await page.getByRole('button', { name: 'Send the request' }).click();
  await page.waitForURL('**/privacy/requests');
  return page;
}

beforeAll(async () => {
  receiver = await startReceiver(SECRET);
  t = await serveTestApp({ CUSTOS_ALLOW_PRIVATE_WEBHOOKS: 'true', CUSTOS_WORKER_POLL_MS: '10' });
  const file = exampleDirectory();
  for (const app of file.apps ?? [])
    if (app.key === TIMESHEETS) app.webhook = { url: receiver.url, secret: SECRET };
  await importExample(t, file);
  const report = await reportWithBearer(
    t,
    await timesheetsToken(t),
    accounts([ADA, now()], [ACTIVE_ID, now()], [CLOSED_ID, now()]),
  );
  expect(report.statusCode).toBeLessThan(300);
  await t.ctx.operators.grant(OFFICER, 'privacy-officer', { type: 'operator', id: 'test' });
  browser = await launchBrowser();
  officer = await signedInContext(browser, t, OFFICER);
});

afterAll(async () => {
  await browser?.close();
  await t?.close();
  await receiver?.close();
});

// Each test walks a request through several pages, with an accessibility check on each.
describe('in Chromium', { timeout: 240_000 }, () => {
  it('access: filed in the privacy centre, an app uploads, the officer closes the wait, the person downloads the export', async () => {
    const ada = await signedInContext(browser, t, ADA);
    const page = await fileInPrivacyCentre(ada, 'Access');
    await checkPage(page, 'dsr-privacy-requests');
    const filed = await requestOf(ADA, 'access');
    await until(async () => (await t.ctx.dsr.get(filed.id)).state === 'awaiting-apps', {
      message: 'apps to be asked',
    });

    const bearer = await oauthToken(t, 'timesheets', SECRETS.timesheetsClient, 'report:personal-data');
    const upload = await fetch(`${t.baseUrl}/app/dsr/requests/${filed.id}/part`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify({ data: { projects: ['Analytical Engine'] } }),
    });
    expect(upload.status).toBe(200);

    const consolePage = await officer.newPage();
    await consolePage.goto('/console/requests');
    await checkPage(consolePage, 'dsr-console-queue');
    await consolePage.getByRole('link', { name: filed.id }).first().click();
    await checkPage(consolePage, 'dsr-console-request-access');
    await until(async () => (await t.ctx.dsr.get(filed.id)).state === 'completed', {
      message: 'the export to be built (every app answered)',
    });

    await page.reload();
    const download = page.waitForEvent('download');
    await page.getByRole('link', { name: 'Download your data (JSON)' }).click();
    const file = await download;
    const path = await file.path();
    const { readFileSync } = await import('node:fs');
    const document = JSON.parse(readFileSync(path, 'utf8'));
    expect(document).toMatchObject({
      accountId: ADA,
      appParts: [{ appKey: TIMESHEETS, data: { projects: ['Analytical Engine'] } }],
    });
    await page.getByRole('link', { name: 'View it in the browser' }).click();
    expect(await page.getByRole('heading', { name: 'Your data', exact: true }).isVisible()).toBe(true);
    await checkPage(page, 'dsr-privacy-export');
    await ada.close();
  });

  it('erasure: cancellable in the grace period, then erased by the officer with a reason; apps told and confirming', async () => {
    const lee = await signedInContext(browser, t, CLOSED_ID);
    const page = await fileInPrivacyCentre(lee, 'Erasure');
    const first = await requestOf(CLOSED_ID, 'erasure');
    await until(async () => (await t.ctx.dsr.get(first.id)).state === 'grace-period', {
      message: 'the grace period',
    });
    await page.reload();
    expect(await t.ctx.dsr.listRestricted([CLOSED_ID])).toEqual(new Set([CLOSED_ID]));
    await checkPage(page, 'dsr-privacy-erasure-grace');
    await page.getByRole('button', { name: 'Cancel the erasure' }).click();
    await page.waitForURL('**/privacy/requests');
    expect((await t.ctx.dsr.get(first.id)).state).toBe('cancelled');
    expect(await t.ctx.dsr.listRestricted([CLOSED_ID])).toEqual(new Set());

    await fileInPrivacyCentre(lee, 'Erasure');
    const second = await requestOf(CLOSED_ID, 'erasure');
    expect(second.id).not.toBe(first.id);
    await until(async () => (await t.ctx.dsr.get(second.id)).state === 'grace-period', {
      message: 'the grace period',
    });
    const consolePage = await officer.newPage();
    await consolePage.goto(`/console/requests/${second.id}`);
    await consolePage.getByLabel('Why now').fill('The person asked us by phone to erase at once');
    await consolePage.getByRole('button', { name: 'Erase now' }).click();
    await until(async () => (await t.ctx.dsr.get(second.id)).state === 'completed', {
      message: 'the erasure',
    });
    expect((await t.ctx.directory.getAccount(CLOSED_ID)).active).toBe(false);
    await until(
      async () =>
        [...receiver.unique.values()].some(
          (r) =>
            (r.body as { type: string; data: { accountId: string } }).type === 'account.closed' &&
            (r.body as { data: { accountId: string } }).data.accountId === CLOSED_ID,
        ),
      { message: 'account.closed at Timesheets' },
    );
    const confirm = await fetch(`${t.baseUrl}/app/erased-accounts/`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await timesheetsToken(t)}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ accounts: [{ accountId: CLOSED_ID }] }),
    });
    expect(confirm.status).toBe(204);
    await consolePage.reload();
    const row = consolePage.getByRole('row', { name: new RegExp(TIMESHEETS) });
    expect(await row.textContent()).toMatch(/UTC.*UTC.*no.*UTC/s);
    await checkPage(consolePage, 'dsr-console-request-erasure');
    await lee.close();
  });

  it('objection, restriction and rectification, each filed in the privacy centre and seen through', async () => {
    const grace = await signedInContext(browser, t, ACTIVE_ID);
    const client = await consentClient(t, 'crm@example.com');
    const granted = await fetch(`${t.baseUrl}/consent-hub/consent`, {
      method: 'POST',
      headers: { authorization: client.authorization, 'content-type': 'application/json' },
      body: JSON.stringify({
        email: 'grace@acme.test',
        locale: 'US',
        consents: [{ key: 'generalMarketingOptIn', granted: true, displayedText: GMOI_TEXT }],
      }),
    });
    expect(granted.status).toBe(202);
    await waitForApplied(t);

    const page = await fileInPrivacyCentre(grace, 'Objection');
    await until(async () => (await requestOf(ACTIVE_ID, 'objection')).state === 'completed', {
      message: 'the objection',
    });
    const config = await t.ctx.consent.getConsentConfiguration({ email: 'grace@acme.test' });
    expect(config.usersChoiceOnMarketingCommunicationOptIn).toBe(false);

    await fileInPrivacyCentre(grace, 'Restriction');
    await until(async () => (await requestOf(ACTIVE_ID, 'restriction')).state === 'completed', {
      message: 'the restriction',
    });
    await page.reload();
    await checkPage(page, 'dsr-privacy-standing');
    await page.getByRole('button', { name: 'Lift the restriction' }).click();
    await page.waitForURL('**/privacy/requests');
    expect(await t.ctx.dsr.listRestricted([ACTIVE_ID])).toEqual(new Set());
    await page.getByRole('button', { name: 'Lift my objection' }).click();
    await page.waitForURL('**/privacy/requests');
    expect(
      (await t.ctx.consent.getConsentConfiguration({ email: 'grace@acme.test' }))
        .usersChoiceOnMarketingCommunicationOptIn,
    ).toBe(true);

    await fileInPrivacyCentre(grace, 'Rectification', 'My job title is Rear Admiral');
    const rect = await requestOf(ACTIVE_ID, 'rectification');
    const consolePage = await officer.newPage();
    await consolePage.goto(`/console/requests/${rect.id}`);
    await checkPage(consolePage, 'dsr-console-request-rectification');
    await consolePage.getByLabel('Job title').fill('Rear Admiral');
    await consolePage.getByRole('button', { name: 'Complete' }).click();
    await consolePage.waitForURL(`**/console/requests/${rect.id}`);
    expect((await t.ctx.directory.getAccount(ACTIVE_ID)).profile.jobTitle).toBe('Rear Admiral');
    await page.reload();
    expect(await page.getByRole('row', { name: /Rectification/ }).textContent()).toContain('Completed');
    await grace.close();
  });
});
