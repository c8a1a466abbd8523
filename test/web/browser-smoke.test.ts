import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, type ServedApp, serveTestApp } from '../helpers/browser.js';

describe('a real browser against the app over real HTTP', () => {
  let t: ServedApp;
  let browser: Browser;

  beforeAll(async () => {
    t = await serveTestApp();
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('gets the stylesheet and htmx from the app itself, under the strict security headers', async () => {
    const context = await browser.newContext({ baseURL: t.baseUrl });
    const page = await context.newPage();
    const css = await page.goto('/assets/custos.css');
    expect(css?.status()).toBe(200);
    expect(css?.headers()['content-type']).toContain('text/css');
    const htmx = await page.goto('/assets/htmx.min.js');
    expect(htmx?.status()).toBe(200);
    expect(await htmx?.text()).toContain('htmx');
    await context.close();
  });
});
