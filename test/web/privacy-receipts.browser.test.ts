import { readFileSync } from 'node:fs';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consentClient, GMOI_TEXT, waitForApplied } from '../helpers/app.js';
import {
  checkPage,
  launchBrowser,
  type ServedApp,
  serveTestApp,
  signedInContext,
} from '../helpers/browser.js';
import { ADA, importExample } from '../helpers/directory.js';

describe('the consent receipts page in a real browser', () => {
  let t: ServedApp;
  let browser: Browser;

  beforeAll(async () => {
    t = await serveTestApp({ CUSTOS_CONTROLLER_NAME: 'Example Corp' });
    browser = await launchBrowser();
    await importExample(t);
    const { authorization } = await consentClient(t);
    const res = await t.app.inject({
      method: 'POST',
      url: '/consent-hub/consent',
      headers: { authorization },
      payload: {
        consents: [{ key: 'generalMarketingOptIn', granted: true, displayedText: GMOI_TEXT }],
        email: 'ada@acme.test',
        formUrl: 'https://www.example.com/newsletter',
        locale: 'GB',
      },
    });
    expect(res.statusCode).toBe(202);
    await waitForApplied(t);
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  // A generous time limit: Chromium, an axe run and a download on a busy two-core machine.
  it('records the GPC signal the browser sends, lists the receipts and downloads one that verifies', async () => {
    const context = await signedInContext(browser, t, ADA, {
      extraHTTPHeaders: { 'Sec-GPC': '1' },
      acceptDownloads: true,
    });
    const page = await context.newPage();
    const response = await page.goto('/privacy/receipts');
    expect(response?.status()).toBe(200);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(
      'Your consent receipts',
    );
    await expect(page.getByText('Do not sell or share:').count()).resolves.toBe(1);
    const rows = page.getByRole('row');
    // The header, the marketing grant and the GPC preference.
    await expect(rows.count()).resolves.toBe(3);
    await checkPage(page, 'privacy-receipts');

    expect(await t.ctx.preferences.listPreferencesOf(ADA)).toEqual([
      expect.objectContaining({ preference: 'do-not-sell-or-share', value: true, method: 'gpc' }),
    ]);

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: /Download receipt for Marketing email/ }).click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/^consent-receipt-[0-9a-f-]+\.jws$/);
    const jws = readFileSync((await download.path()) as string, 'utf8');
    const jwks = createRemoteJWKSet(new URL(`${t.baseUrl}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(jws, jwks);
    expect(payload).toMatchObject({ status: 'given', jurisdiction: 'GB', collectionMethod: 'api' });
    await context.close();
  }, 90_000);

  it('works from the keyboard: the skip link, the navigation, then each download link', async () => {
    const context = await signedInContext(browser, t, ADA);
    const page = await context.newPage();
    await page.goto('/privacy/receipts');
    // Skip link, brand, the privacy centre's sections, sign-out, then the download links.
    const focused: string[] = [];
    for (let i = 0; i < 20 && focused.filter((text) => text.startsWith('Download')).length < 2; i++) {
      await page.keyboard.press('Tab');
      const text = await page.evaluate<string>('document.activeElement?.textContent ?? ""');
      focused.push(text.trim());
    }
    expect(focused[0]).toBe('Skip to main content');
    expect(focused).toEqual(expect.arrayContaining(['Profile', 'Consent receipts']));
    expect(focused.filter((text) => text.startsWith('Download'))).toHaveLength(2);
    await context.close();
  }, 90_000);

  it('turns "do not sell or share" off from the keyboard while the browser sends GPC, and on again', async () => {
    const context = await signedInContext(browser, t, ADA, { extraHTTPHeaders: { 'Sec-GPC': '1' } });
    const page = await context.newPage();
    await page.goto('/privacy/receipts');
    const preference = page.getByRole('region', { name: 'Sale and sharing of your personal information' });
    expect(await preference.textContent()).toContain('Do not sell or share: on');
    await preference.getByRole('button', { name: 'Turn off “do not sell or share”' }).focus();
    await Promise.all([page.waitForURL(/done=do-not-sell-off/), page.keyboard.press('Enter')]);

    // The browser still sends the signal: the person's own choice stands, and the page says so.
    expect(await page.getByRole('status').textContent()).toContain('“do not sell or share” is off');
    expect(await preference.textContent()).toContain('Do not sell or share: off');
    expect(await preference.textContent()).toContain('Your browser is sending Global Privacy Control');
    await checkPage(page, 'privacy-receipts-do-not-sell-off');
    expect(await t.ctx.preferences.listPreferencesOf(ADA)).toEqual([
      expect.objectContaining({ value: false, method: 'privacy-centre' }),
    ]);
    await expect(
      page
        .getByRole('row')
        .filter({ hasText: 'Do not sell or share my personal information' })
        .first()
        .textContent(),
    ).resolves.toContain('Withdrawn');

    await Promise.all([
      page.waitForURL(/done=do-not-sell-on/),
      preference.getByRole('button', { name: 'Turn on “do not sell or share”' }).click(),
    ]);
    expect(await preference.textContent()).toContain('Do not sell or share: on');
    expect(await t.ctx.preferences.listPreferencesOf(ADA)).toEqual([
      expect.objectContaining({ value: true, method: 'privacy-centre' }),
    ]);
    await context.close();
  }, 90_000);
});
