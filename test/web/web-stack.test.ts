import Fastify from 'fastify';
import Type from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import { authPlugin } from '../../src/auth/auth.plugin.js';
import { personOf } from '../../src/auth/principal.js';
import type { Context } from '../../src/context.js';
import { webPlugin } from '../../src/web/web.plugin.js';
import { consentClient, createTestApp, type TestApp } from '../helpers/app.js';
import { ACTIVE_ID, ADA, GINA, importExample, OPERATOR } from '../helpers/directory.js';
import { WebClient } from '../helpers/web.js';

const MINUTE = 60_000;
const CSP =
  "default-src 'self';script-src 'self';style-src 'self';img-src 'self';object-src 'none';base-uri 'none';form-action 'self';frame-ancestors 'none'";

/** The sessions' clock: tests move it forward to cross the timeouts. */
const clock = { now: Date.now() };
const now = () => new Date(clock.now);

/** Pages only these tests need, in their own context with the same web stack as the app's pages. */
async function testPages(app: App, ctx: Context): Promise<void> {
  await app.register(async (web) => {
    await web.register(webPlugin, {
      sessions: ctx.sessions,
      roles: ctx.operators,
      publicUrl: ctx.config.publicUrl,
      csrfKey: ctx.csrfKey,
    });
    web.get('/test/public', { config: { auth: { kind: 'public' } } }, (_request, reply) =>
      reply.page('layout', { title: 'Public', body: '<p>Hello</p>' }),
    );
    web.get('/test/me', { config: { auth: { kind: 'account' } } }, (request, reply) =>
      reply.page('layout', { title: 'Me', body: `<p id="who">${personOf(request).accountId}</p>` }),
    );
    web.post(
      '/test/note',
      {
        config: { auth: { kind: 'account' } },
        schema: { body: Type.Object({ note: Type.String() }, { additionalProperties: false }) },
      },
      async (request) => ({ accountId: personOf(request).accountId, body: request.body }),
    );
    web.post(
      '/test/sign-in',
      { config: { auth: { kind: 'public' } }, schema: { body: Type.Object({ accountId: Type.String() }) } },
      async (request, reply) => {
        await reply.startSession((request.body as { accountId: string }).accountId);
        return reply.code(204).send();
      },
    );
    web.get(
      '/test/console',
      { config: { auth: { kind: 'operator', permission: 'read' } } },
      (_request, reply) => reply.page('layout', { title: 'Console', body: '<p>Queue</p>' }),
    );
    web.post(
      '/test/console/decide',
      { config: { auth: { kind: 'operator', permission: 'access:decide' } } },
      async () => ({ decided: true }),
    );
    web.post(
      '/test/console/roles',
      { config: { auth: { kind: 'operator', permission: 'roles:manage' } } },
      async () => ({ managed: true }),
    );
  });
}

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({}, { now, register: testPages });
  await importExample(t);
});
afterAll(() => t.close());

/** A browser signed in as `accountId` that has loaded a page (so it holds a CSRF token). */
async function signedIn(accountId: string): Promise<WebClient> {
  const browser = new WebClient(t);
  await browser.signIn(accountId);
  expect((await browser.get('/test/me')).statusCode).toBe(200);
  return browser;
}

describe('pages for people', () => {
  it('sends an unauthenticated page request to sign in, with the way back', async () => {
    const res = await new WebClient(t).get('/test/me?tab=history');
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/login?next=%2Ftest%2Fme%3Ftab%3Dhistory');
    expect(res.headers['content-security-policy']).toBe(CSP);
  });

  it('answers 401 to unauthenticated requests that are not page navigations', async () => {
    const browser = new WebClient(t);
    const api = await browser.get('/test/me', { accept: 'application/json' });
    expect(api.statusCode).toBe(401);
    expect(api.json().errorType).toBe('UNAUTHENTICATED');
    const htmx = await browser.get('/test/me', { 'hx-request': 'true' });
    expect(htmx.statusCode).toBe(401);
    expect((await browser.get('/test/public')).statusCode).toBe(200);
    const form = await browser.post('/test/note', { note: 'hi' });
    expect(form.statusCode).toBe(401);
    expect(form.headers['content-type']).toContain('text/html');
    expect(form.body).toContain('Please sign in');
    expect(form.body).toContain('<a href="/login">Sign in</a>');
    expect(form.headers['content-security-policy']).toBe(CSP);
  });

  it('a bogus or forged session cookie is no session', async () => {
    const browser = new WebClient(t);
    browser.cookies.set(browser.sessionCookieName, 'A'.repeat(43));
    expect((await browser.get('/test/me')).statusCode).toBe(303);
  });

  it('renders the accessible base layout for a signed-in person, with security headers', async () => {
    const browser = new WebClient(t);
    await browser.signIn(ADA);
    const res = await browser.get('/test/me');
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain(`<p id="who">${ADA}</p>`);
    expect(res.body).toMatch(/^<!doctype html>\s*<html lang="en">/);
    expect(res.body).toContain('<a class="skip-link" href="#main">Skip to main content</a>');
    expect(res.body).toMatch(
      /<header class="site-header">[\s\S]*<main id="main" tabindex="-1">[\s\S]*<footer/,
    );
    expect(res.body).toContain('<title>Me · Custos</title>');
    // Sign-out is a CSRF-protected form post.
    expect(res.body).toMatch(
      /<form class="sign-out" method="post" action="\/logout">\s*<input type="hidden" name="_csrf" value="[^"]+">/,
    );
    // No inline script or style anywhere: the CSP would refuse them.
    expect(res.body).not.toMatch(/<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=/i);
    expect(res.headers).toMatchObject({
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': CSP,
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'same-origin',
      'cross-origin-opener-policy': 'same-origin',
      'cache-control': 'no-store',
    });
    // Plain http: no HSTS, no upgrade of requests.
    expect(res.headers['strict-transport-security']).toBeUndefined();
  });

  it('serves the stylesheet and htmx from this origin', async () => {
    const browser = new WebClient(t);
    const css = await browser.get('/assets/custos.css');
    expect(css.statusCode).toBe(200);
    expect(css.headers['content-type']).toContain('text/css');
    expect(css.body).toContain(':focus-visible');
    const htmx = await browser.get('/assets/htmx.min.js');
    expect(htmx.statusCode).toBe(200);
    expect(htmx.headers['content-type']).toContain('javascript');
    expect(htmx.body).toContain('htmx');
    expect((await browser.get('/assets/../package.json')).statusCode).toBe(404);
  });

  it('ends a page session after the idle timeout (30 minutes by default)', async () => {
    const browser = await signedIn(GINA);
    clock.now += 29 * MINUTE;
    expect((await browser.get('/test/me')).statusCode).toBe(200);
    clock.now += 29 * MINUTE;
    expect((await browser.get('/test/me')).statusCode).toBe(200);
    clock.now += 31 * MINUTE;
    expect((await browser.get('/test/me')).statusCode).toBe(303);
  });

  it('ends a busy page session at the absolute timeout (12 hours by default)', async () => {
    const browser = await signedIn(GINA);
    for (let elapsed = 25 * MINUTE; elapsed < 12 * 60 * MINUTE; elapsed += 25 * MINUTE) {
      clock.now += 25 * MINUTE;
      expect((await browser.get('/test/me')).statusCode).toBe(200);
    }
    clock.now += 25 * MINUTE;
    expect((await browser.get('/test/me')).statusCode).toBe(303);
  });
});

describe('CSRF tokens on form posts', () => {
  it('refuses a post without a token, with a wrong one and with one of another session', async () => {
    const browser = await signedIn(ADA);
    const other = await signedIn(ADA);
    for (const token of [null, 'wrong', `${browser.csrfToken}x`, other.csrfToken ?? '']) {
      const res = await browser.post('/test/note', { _csrf: token, note: 'hi' });
      expect(res.statusCode).toBe(403);
      expect(res.body).toContain('CSRF');
    }
    const json = await browser.post(
      '/test/note',
      { _csrf: null, note: 'hi' },
      { accept: 'application/json' },
    );
    expect(json.json()).toMatchObject({ errorType: 'FORBIDDEN', field: '_csrf' });
  });

  it("refuses the token of the same browser's anonymous page once it has signed in", async () => {
    const browser = new WebClient(t);
    expect((await browser.get('/test/public')).statusCode).toBe(200);
    const anonymousToken = browser.csrfToken ?? '';
    expect(anonymousToken).not.toBe('');
    await browser.signIn(ADA);
    expect((await browser.post('/test/note', { _csrf: anonymousToken, note: 'hi' })).statusCode).toBe(403);
  });

  it('accepts the right token, in the form or in the htmx header, and hides it from the route', async () => {
    const browser = await signedIn(ADA);
    const res = await browser.post('/test/note', { note: 'hi' }, { accept: 'application/json' });
    expect(res.statusCode).toBe(200);
    // The route's strict schema never sees _csrf.
    expect(res.json()).toEqual({ accountId: ADA, body: { note: 'hi' } });
    const viaHeader = await browser.post(
      '/test/note',
      { _csrf: null, note: 'htmx' },
      { 'x-csrf-token': browser.csrfToken ?? '', 'hx-request': 'true' },
    );
    expect(viaHeader.statusCode).toBe(200);
  });
});

describe('origin check on state-changing requests', () => {
  it('refuses cross-origin and same-site posts even with a valid token', async () => {
    const browser = await signedIn(ADA);
    const crossOrigin: Record<string, string>[] = [
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { host: 'custos.test', origin: 'https://custos.test' },
    ];
    for (const headers of crossOrigin) {
      const res = await browser.post(
        '/test/note',
        { note: 'hi' },
        { ...headers, accept: 'application/json' },
      );
      expect(res.statusCode).toBe(403);
      expect(res.json().errorMessage).toBe('Cross-origin request refused');
    }
  });

  it('accepts same-origin posts by Sec-Fetch-Site or by Origin', async () => {
    const browser = await signedIn(ADA);
    expect(
      (await browser.post('/test/note', { note: 'a' }, { 'sec-fetch-site': 'same-origin' })).statusCode,
    ).toBe(200);
    const sameOrigin = { host: 'custos.test', origin: 'http://custos.test' };
    expect((await browser.post('/test/note', { note: 'b' }, sameOrigin)).statusCode).toBe(200);
  });
});

describe('sign-in and sign-out', () => {
  it('starts a new session at sign-in, ending the one the browser had (no fixation)', async () => {
    const browser = new WebClient(t);
    const before = await browser.signIn(ADA);
    expect((await browser.get('/test/me')).statusCode).toBe(200);
    const res = await browser.post('/test/sign-in', { accountId: GINA });
    expect(res.statusCode).toBe(204);
    const token = browser.cookies.get('custos-session') ?? '';
    expect(token).not.toBe(before.token);
    expect(await t.ctx.sessions.authenticate(before.token)).toBeUndefined();
    const after = await t.ctx.sessions.authenticate(token);
    expect(after?.accountId).toBe(GINA);
    expect(after?.id).not.toBe(before.sessionId);
    expect((await browser.get('/test/me')).body).toContain(`<p id="who">${GINA}</p>`);
  });

  it('sets the session cookie HttpOnly, SameSite=Lax, Path=/, for this host only', async () => {
    const browser = new WebClient(t);
    expect((await browser.get('/test/public')).statusCode).toBe(200);
    const res = await browser.post('/test/sign-in', { accountId: ADA });
    const header = [res.headers['set-cookie']].flat().find((c) => c?.startsWith('custos-session='));
    expect(header).toMatch(/^custos-session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/);
  });

  it('signs out on the server: the old cookie no longer works', async () => {
    const browser = await signedIn(ADA);
    const token = browser.cookies.get('custos-session') ?? '';
    const refused = await browser.post('/logout', { _csrf: null });
    expect(refused.statusCode).toBe(403);
    expect(await t.ctx.sessions.authenticate(token)).toEqual({ id: expect.any(String), accountId: ADA });

    const res = await browser.post('/logout');
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/login');
    expect(browser.cookies.has('custos-session')).toBe(false);
    expect(await t.ctx.sessions.authenticate(token)).toBeUndefined();
    browser.cookies.set('custos-session', token);
    expect((await browser.get('/test/me')).statusCode).toBe(303);
  });

  it('signs out everywhere: every session of the person ends, nobody else is touched', async () => {
    const laptop = await signedIn(ACTIVE_ID);
    const phone = await signedIn(ACTIVE_ID);
    const someoneElse = await signedIn(GINA);
    const res = await laptop.post('/logout/all');
    expect(res.statusCode).toBe(303);
    expect(await t.ctx.sessions.list(ACTIVE_ID)).toEqual([]);
    expect((await phone.get('/test/me')).statusCode).toBe(303);
    expect((await someoneElse.get('/test/me')).statusCode).toBe(200);
  });

  it('clears the cookie of a session that had already ended, and still needs the form token', async () => {
    for (const url of ['/logout', '/logout/all']) {
      const browser = await signedIn(ADA);
      await t.ctx.sessions.endAll(ADA);
      expect((await browser.post(url, { _csrf: null })).statusCode).toBe(403);
      expect(browser.cookies.has('custos-session')).toBe(true);
      const res = await browser.post(url);
      expect(res.statusCode).toBe(303);
      expect(res.headers.location).toBe('/login');
      expect(browser.cookies.has('custos-session')).toBe(false);
    }
  });
});

describe('the JSON APIs are unaffected', () => {
  it('still refuse form and text bodies with 415, with no page headers or cookies', async () => {
    const { authorization } = await consentClient(t);
    for (const [type, payload] of [
      ['application/x-www-form-urlencoded', 'email=a%40example.com&locale=US'],
      ['text/plain', '{"email":"a@example.com","locale":"US","consents":[]}'],
    ]) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/consent-hub/consent',
        headers: { authorization, 'content-type': type },
        payload,
      });
      expect(res.statusCode).toBe(415);
      expect(res.json().errorType).toBe('UNSUPPORTED_MEDIA_TYPE');
      expect(res.headers['content-security-policy']).toBeUndefined();
      expect(res.headers['set-cookie']).toBeUndefined();
    }
  });

  it('keep the pages out of the OpenAPI document', async () => {
    const paths = Object.keys((await t.app.inject({ url: '/openapi.json' })).json().paths);
    expect(paths).toContain('/consent-hub/consent');
    expect(paths.filter((p) => p.startsWith('/logout') || p.startsWith('/assets'))).toEqual([]);
  });
});

describe('operator permissions', () => {
  it('allows what the roles give and answers 403 to the rest', async () => {
    await t.ctx.operators.grant(ACTIVE_ID, 'reviewer', OPERATOR);
    await t.ctx.operators.grant(GINA, 'owner', OPERATOR);
    const reviewer = await signedIn(ACTIVE_ID);
    const owner = await signedIn(GINA);
    const nobody = await signedIn(ADA);
    const json = { accept: 'application/json' };

    expect((await reviewer.get('/test/console')).statusCode).toBe(200);
    expect((await reviewer.post('/test/console/decide', {}, json)).json()).toEqual({ decided: true });
    const refused = await reviewer.post('/test/console/roles', {}, json);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().errorMessage).toBe('Your console roles do not give the permission roles:manage');

    expect((await owner.post('/test/console/roles', {}, json)).statusCode).toBe(200);
    expect((await owner.post('/test/console/decide', {}, json)).statusCode).toBe(403);

    // Signed in, but no console role at all.
    const page = await nobody.get('/test/console');
    expect(page.statusCode).toBe(403);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).toContain('Not allowed');
    expect(page.headers['content-security-policy']).toBe(CSP);
  });

  it('gives a refused person a way on: the console home with a role, their privacy centre, another account', async () => {
    await t.ctx.operators.grant(ACTIVE_ID, 'reviewer', OPERATOR);
    const wayOn = (body: string) => ({
      console: body.includes('<a href="/console">Console home</a>'),
      privacy: body.includes('<a href="/privacy">Your privacy centre</a>'),
      switchAccount: /<form method="post" action="\/logout">[\s\S]*?Sign in as someone else/.test(body),
      signIn: body.includes('<a href="/login">Sign in</a>'),
    });

    // A reviewer refused what the role does not give: the console home is still theirs.
    const reviewer = await signedIn(ACTIVE_ID);
    const refused = await reviewer.post('/test/console/roles', {});
    expect(refused.statusCode).toBe(403);
    expect(wayOn(refused.body)).toEqual({ console: true, privacy: true, switchAccount: true, signIn: false });
    // The layout knows them too: its own "Sign out" is there.
    expect(refused.body).toContain('class="sign-out"');

    // No console role at all: the privacy centre, or another account, which works from here.
    const nobody = await signedIn(ADA);
    const page = await nobody.get('/test/console');
    expect(page.statusCode).toBe(403);
    expect(page.body).toContain('You have no console role');
    expect(wayOn(page.body)).toEqual({ console: false, privacy: true, switchAccount: true, signIn: false });
    const out = await nobody.post('/logout');
    expect(out.statusCode).toBe(303);
    expect(out.headers.location).toBe('/login');
    expect((await nobody.get('/test/me')).statusCode).toBe(303);

    // Not signed in (a form from elsewhere): the way to sign in, nothing of anyone's.
    const stranger = new WebClient(t);
    const crossSite = await stranger.post('/test/note', { note: 'hi' }, { 'sec-fetch-site': 'cross-site' });
    expect(crossSite.statusCode).toBe(403);
    expect(wayOn(crossSite.body)).toEqual({
      console: false,
      privacy: false,
      switchAccount: false,
      signIn: true,
    });
  });

  it('takes a revoked role away at the next request', async () => {
    await t.ctx.operators.grant(ADA, 'auditor', OPERATOR);
    const auditor = await signedIn(ADA);
    expect((await auditor.get('/test/console')).statusCode).toBe(200);
    await t.ctx.operators.revoke(ADA, 'auditor', OPERATOR);
    expect((await auditor.get('/test/console')).statusCode).toBe(403);
  });

  it('refuses to register a route for people outside the web stack', async () => {
    const app = Fastify();
    await app.register(authPlugin, {
      tokens: t.ctx.tokens,
      appAuth: t.ctx.appAuth,
      people: t.ctx.people,
      publicPrefixes: [],
    });
    expect(() => app.get('/bare', { config: { auth: { kind: 'account' } } }, async () => 'no')).toThrow(
      'GET /bare is for signed-in people but is not registered inside the web stack',
    );
    await app.close();
  });
});

describe('with an https public URL', () => {
  let secure: TestApp;

  beforeAll(async () => {
    secure = await createTestApp({ CUSTOS_PUBLIC_URL: 'https://custos.test' }, { register: testPages });
    await importExample(secure);
  });
  afterAll(() => secure.close());

  it('uses Secure __Host- cookies, HSTS, and an upgrade of insecure requests', async () => {
    const browser = new WebClient(secure);
    const page = await browser.get('/test/public');
    expect(page.headers['strict-transport-security']).toBe('max-age=31536000');
    expect(page.headers['content-security-policy']).toBe(`${CSP};upgrade-insecure-requests`);
    expect(page.headers['set-cookie']).toMatch(
      /^__Host-custos-csrf=[^;]+; Path=\/; HttpOnly; Secure; SameSite=Lax$/,
    );

    const res = await browser.post('/test/sign-in', { accountId: ADA }, { origin: 'https://custos.test' });
    expect(res.statusCode).toBe(204);
    const header = [res.headers['set-cookie']].flat().find((c) => c?.startsWith('__Host-custos-session='));
    expect(header).toMatch(
      /^__Host-custos-session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; Secure; SameSite=Lax$/,
    );
    expect((await browser.get('/test/me')).body).toContain(`<p id="who">${ADA}</p>`);

    // The public origin is what counts, not the Host header.
    const http = await browser.post('/logout', {}, { host: 'custos.test', origin: 'http://custos.test' });
    expect(http.statusCode).toBe(403);
    const signedOut = await browser.post('/logout', {}, { origin: 'https://custos.test' });
    expect(signedOut.statusCode).toBe(303);
    expect(signedOut.headers['set-cookie']).toMatch(
      /^__Host-custos-session=; Max-Age=0; Path=\/; Expires=[^;]+; HttpOnly; Secure; SameSite=Lax$/,
    );
  });
});
