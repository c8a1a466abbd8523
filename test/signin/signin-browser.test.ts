import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OIDC_CALLBACK_PATH } from '../../src/signin/oidc.service.js';
import { checkPage, launchBrowser, type ServedApp, serveTestApp } from '../helpers/browser.js';
import { ADA, GINA, importExample, OPERATOR } from '../helpers/directory.js';
import { IdentityProvider } from '../helpers/identity-provider.js';
import { Mailbox } from '../helpers/mailbox.js';
import { runCustos } from '../helpers/process.js';

// A browser and the CLI take many seconds each on a loaded machine.
const SLOW_MS = 180_000;
const secretKey = randomBytes(32).toString('base64');
let idp: IdentityProvider;
let mailbox: Mailbox;
let t: ServedApp;
let browser: Browser;

beforeAll(async () => {
  idp = await IdentityProvider.start();
  mailbox = await Mailbox.start();
  t = await serveTestApp({ ...idp.env(), CUSTOS_SMTP_URL: mailbox.url, CUSTOS_SECRET_KEY: secretKey });
  idp.register(`${t.baseUrl}${OIDC_CALLBACK_PATH}`);
  await importExample(t);
  await t.ctx.operators.grant(ADA, 'reviewer', OPERATOR);
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
  await idp?.close();
  await mailbox?.close();
});

async function newPage(): Promise<Page> {
  const context = await browser.newContext({ baseURL: t.baseUrl });
  return context.newPage();
}

const pathOf = (page: Page) => new URL(page.url()).pathname;

async function askCode(page: Page, email: string): Promise<void> {
  await page.goto('/login?next=/privacy');
  await page.getByLabel('Email address').fill(email);
  await page.getByRole('button', { name: 'Send me a code' }).click();
  await page.getByRole('heading', { name: 'Enter your code' }).waitFor();
}

async function mailedCode(email: string, count: number): Promise<string> {
  const mail = await mailbox.waitForMail(email, count);
  const code = /Your sign-in code is (\d{8})/.exec(mail.body)?.[1];
  if (!code) throw new Error('no code in the mail');
  return code;
}

describe('signing in in a real browser', () => {
  it(
    'shows the front page and the sign-in page with every method set up',
    async () => {
      const page = await newPage();
      await page.goto('/');
      await checkPage(page, 'home-signed-out');
      await page.getByRole('link', { name: 'Sign in' }).click();
      expect(pathOf(page)).toBe('/login');
      await expect(page.getByRole('heading', { level: 2 }).allTextContents()).resolves.toEqual([
        "With your organisation's account",
        'With a code sent by mail',
        'With a sign-in link',
      ]);
      await checkPage(page, 'signin-login');
    },
    SLOW_MS,
  );

  it(
    'by a code from a real mail: a wrong code shows the tries left, the right one signs in, and it works only once',
    async () => {
      const page = await newPage();
      await askCode(page, 'gina@globex.test');
      await checkPage(page, 'signin-code');
      const code = await mailedCode('gina@globex.test', 1);
      await page.getByLabel('Sign-in code (8 digits)').fill(code === '00000000' ? '11111111' : '00000000');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').waitFor();
      expect(await page.getByRole('alert').textContent()).toContain('4 of 5 tries left');
      await checkPage(page, 'signin-code-wrong');
      const challenge = await page.locator('input[name="challenge"]').inputValue();

      await page.getByLabel('Sign-in code (8 digits)').fill(code);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL('**/privacy');
      await page.goto('/');
      expect(await page.locator('main').textContent()).toContain(GINA);
      // Gina holds no console role: no way to the console.
      expect(await page.getByRole('link', { name: /Console/ }).count()).toBe(0);

      // The same code again, posted from a page of the site as the form would: refused.
      await page.getByRole('button', { name: 'Sign out', exact: true }).click();
      await page.waitForURL('**/login');
      await page.evaluate(
        // Runs in the page, where the DOM exists (the project's types have no DOM).
        ({ challenge, code }: { challenge: string; code: string }) => {
          // biome-ignore lint/suspicious/noExplicitAny: the page's global, untyped here
          const document = (globalThis as any).document;
          const form = document.createElement('form');
          form.method = 'post';
          form.action = '/login/code/verify';
          const csrf = document.querySelector('input[name="_csrf"]')?.value ?? '';
          for (const [name, value] of Object.entries({ _csrf: csrf, challenge, code })) {
            const input = document.createElement('input');
            input.type = 'hidden';
            input.name = name;
            input.value = value;
            form.append(input);
          }
          document.body.append(form);
          form.submit();
        },
        { challenge, code },
      );
      await page.getByRole('heading', { name: 'This code no longer works' }).waitFor();
      await checkPage(page, 'signin-code-used');
    },
    SLOW_MS,
  );

  it(
    'by code: five wrong codes end it',
    async () => {
      const page = await newPage();
      await askCode(page, 'nobody@example.test');
      for (let i = 0; i < 4; i++) {
        await page.getByLabel('Sign-in code (8 digits)').fill(`1234567${i}`);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.getByText(`${4 - i} of 5 tries left`).waitFor();
      }
      await page.getByLabel('Sign-in code (8 digits)').fill('12345679');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'This code no longer works' }).waitFor();
      expect(mailbox.mailsTo('nobody@example.test')).toEqual([]);
    },
    SLOW_MS,
  );

  it(
    'through the OpenID Connect provider, landing on next; an unlinked identity is refused',
    async () => {
      const page = await newPage();
      idp.nextAccount = ADA;
      await page.goto('/login?next=/console');
      await page.getByRole('link', { name: /^Continue with / }).click();
      await page.waitForURL('**/console');
      await page.goto('/');
      expect(await page.locator('main').textContent()).toContain(ADA);
      // Ada is a reviewer: the front page leads to the console.
      expect(await page.getByRole('link', { name: /Console/ }).getAttribute('href')).toBe('/console');
      await checkPage(page, 'home-signed-in');

      const other = await newPage();
      idp.nextAccount = 'not-a-custos-account';
      await other.goto('/login');
      await other.getByRole('link', { name: /^Continue with / }).click();
      await other.getByRole('heading', { name: 'Sign-in refused' }).waitFor();
      expect(await other.locator('main').textContent()).toContain('no open Custos account');
      await checkPage(other, 'signin-oidc-refused');
      await other.goto('/');
      expect(await other.getByRole('link', { name: 'Sign in' }).count()).toBe(1);
    },
    SLOW_MS,
  );

  it(
    'by a link printed by the real CLI: a button, then next; the link works once; sign out everywhere ends it all',
    async () => {
      const printed = await runCustos(['login-link', ADA, '--next', '/console'], {
        DATABASE_URL: t.database.url,
        CUSTOS_SECRET_KEY: secretKey,
        CUSTOS_PUBLIC_URL: t.baseUrl,
      });
      expect(printed.code).toBe(0);
      const url = printed.stdout.trimEnd().split('\n').at(-1) ?? '';
      expect(url).toMatch(new RegExp(`^${t.baseUrl}/login/link/[A-Za-z0-9_-]{43}$`));

      const page = await newPage();
      await page.goto(url);
      await checkPage(page, 'signin-link');
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.waitForURL('**/console');

      const again = await newPage();
      const reopened = await again.goto(url);
      expect(reopened?.status()).toBe(410);
      await again.getByRole('heading', { name: 'This sign-in link no longer works' }).waitFor();
      await checkPage(again, 'signin-link-used');

      await page.goto('/');
      await page.getByRole('button', { name: 'Sign out everywhere' }).click();
      await page.waitForURL('**/login');
      await page.goto('/');
      expect(await page.getByRole('link', { name: 'Sign in' }).count()).toBe(1);
    },
    SLOW_MS,
  );
});
