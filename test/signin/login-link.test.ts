import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_SCOPE } from '../../src/auth/scopes.js';
import { LINK_TTL_MS } from '../../src/signin/login-link.service.js';
import { safeNextPath } from '../../src/web/navigation.js';
import { basic, createTestApp, createToken, type TestApp } from '../helpers/app.js';
import { ADA, adminClient, CLOSED_ID, importExample, OPERATOR } from '../helpers/directory.js';
import { WebClient } from '../helpers/web.js';

let t: TestApp;
let offsetMs = 0;
const now = () => new Date(Date.now() + offsetMs);

beforeAll(async () => {
  t = await createTestApp({}, { now });
  await importExample(t);
  await t.ctx.directory.closeAccount(CLOSED_ID, OPERATOR);
});
afterAll(() => t?.close());

describe('one-time sign-in links', () => {
  it('shows a button on GET without using the link; the POST signs in once and goes to next', async () => {
    const issued = await t.ctx.loginLinks.issue(ADA, '/console', OPERATOR);
    expect(issued.path).toMatch(/^\/login\/link\/[A-Za-z0-9_-]{43}$/);
    const web = new WebClient(t);
    // A mail scanner fetching the link twice spends nothing.
    for (let i = 0; i < 2; i++) {
      const shown = await web.get(issued.path);
      expect(shown.statusCode).toBe(200);
      expect(shown.body).toContain('<button type="submit">Sign in</button>');
      expect(shown.headers['referrer-policy']).toBe('no-referrer');
    }
    const signedIn = await web.post(issued.path);
    expect(signedIn.statusCode).toBe(303);
    expect(signedIn.headers.location).toBe('/console');
    expect((await web.get('/')).body).toContain(ADA);

    const stranger = new WebClient(t);
    const reopened = await stranger.get(issued.path);
    expect(reopened.statusCode).toBe(410);
    expect(reopened.body).toContain('This sign-in link no longer works');
    const reused = await stranger.post(issued.path);
    expect(reused.statusCode).toBe(410);
    expect(stranger.cookies.has(stranger.sessionCookieName)).toBe(false);

    const audit = await t.ctx.database.db
      .selectFrom('audit_events')
      .select(['action', 'actor_type', 'actor_id', 'account_id', 'details'])
      .where('action', 'in', ['admin.login-link-issued', 'signin.login-link'])
      .orderBy('id')
      .execute();
    expect(audit).toEqual([
      {
        action: 'admin.login-link-issued',
        actor_type: 'operator',
        actor_id: 'test',
        account_id: ADA,
        details: JSON.stringify({ linkId: issued.linkId }),
      },
      {
        action: 'signin.login-link',
        actor_type: 'account',
        actor_id: ADA,
        account_id: ADA,
        details: JSON.stringify({ linkId: issued.linkId }),
      },
    ]);
  });

  it('stores only the SHA-256 of the token', async () => {
    const issued = await t.ctx.loginLinks.issue(ADA, undefined, OPERATOR);
    const token = issued.path.split('/').at(-1) ?? '';
    const rows = await t.ctx.database.db.selectFrom('login_links').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(token);
    expect(issued.next).toBe('/');
  });

  it('expires after 15 minutes', async () => {
    const issued = await t.ctx.loginLinks.issue(ADA, undefined, OPERATOR);
    offsetMs = LINK_TTL_MS;
    try {
      const web = new WebClient(t);
      expect((await web.get(issued.path)).statusCode).toBe(410);
      expect((await web.post(issued.path)).statusCode).toBe(410);
    } finally {
      offsetMs = 0;
    }
  });

  it('is used by one of two concurrent posts only', async () => {
    const issued = await t.ctx.loginLinks.issue(ADA, undefined, OPERATOR);
    const token = issued.path.split('/').at(-1) ?? '';
    const outcomes = await Promise.all([t.ctx.loginLinks.use(token), t.ctx.loginLinks.use(token)]);
    expect(outcomes.filter((o) => o !== undefined)).toEqual([{ accountId: ADA, next: '/' }]);
  });

  it('refuses a next that could leave the site, an unknown and a closed account', async () => {
    for (const next of ['//evil.example', 'https://evil.example/', '/\\evil.example'])
      await expect(t.ctx.loginLinks.issue(ADA, next, OPERATOR)).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        field: 'next',
      });
    await expect(t.ctx.loginLinks.issue('no-such-account', undefined, OPERATOR)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await expect(t.ctx.loginLinks.issue(CLOSED_ID, undefined, OPERATOR)).rejects.toMatchObject({
      code: 'CONFLICT',
    });
  });

  it('sends a signed-in person on from /login, never back to it', async () => {
    const web = new WebClient(t);
    await web.signIn(ADA);
    const on = await web.get('/login?next=/privacy');
    expect(on.statusCode).toBe(303);
    expect(on.headers.location).toBe('/privacy');
    expect((await web.get(`/login?next=${encodeURIComponent('/login?next=/login')}`)).headers.location).toBe(
      '/',
    );
    expect((await web.get('/login?next=//evil.example')).headers.location).toBe('/');
  });

  it('sends characters beyond ASCII in next percent-encoded, never a broken Location header', async () => {
    const web = new WebClient(t);
    await web.signIn(ADA);
    for (const [next, location] of [
      ['/中', '/%E4%B8%AD'],
      ['/a\u2028b', '/a%E2%80%A8b'],
      ['/privacy?q=é', '/privacy?q=%C3%A9'],
    ]) {
      const res = await web.get(`/login?next=${encodeURIComponent(next as string)}`);
      expect(res.statusCode).toBe(303);
      expect(res.headers.location).toBe(location);
    }
    // Text that is not valid Unicode has no encoding: it goes nowhere but the front page.
    expect(safeNextPath('/x\ud800')).toBe('/');
  });

  it("keeps a link's next as it will redirect to, and signs in through it", async () => {
    const issued = await t.ctx.loginLinks.issue(ADA, '/中', OPERATOR);
    expect(issued.next).toBe('/%E4%B8%AD');
    const web = new WebClient(t);
    expect((await web.get(issued.path)).statusCode).toBe(200);
    const res = await web.post(issued.path);
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/%E4%B8%AD');
    expect(res.headers['set-cookie']).toBeDefined();
  });

  it('refuses a made-up token', async () => {
    const web = new WebClient(t);
    expect((await web.get('/login/link/not-a-token')).statusCode).toBe(410);
    expect((await web.get(`/login/link/${'A'.repeat(43)}`)).statusCode).toBe(410);
  });
});

describe('POST /admin/login-links', () => {
  it('issues a link for the admin API, audited with the client', async () => {
    const { token, clientId } = await createToken(t, { email: 'links@operator.test', scopes: [ADMIN_SCOPE] });
    const authorization = basic('links@operator.test', token);
    const res = await t.app.inject({
      method: 'POST',
      url: '/admin/login-links',
      headers: { authorization },
      payload: { accountId: ADA, next: '/privacy' },
    });
    expect(res.statusCode).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json();
    expect(body.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/login\/link\/[A-Za-z0-9_-]{43}$/);
    expect(body.next).toBe('/privacy');
    const web = new WebClient(t);
    const path = new URL(body.url).pathname;
    await web.get(path);
    const signedIn = await web.post(path);
    expect(signedIn.headers.location).toBe('/privacy');
    const issued = await t.ctx.database.db
      .selectFrom('audit_events')
      .select(['actor_type', 'actor_id'])
      .where('action', '=', 'admin.login-link-issued')
      .orderBy('id', 'desc')
      .executeTakeFirstOrThrow();
    expect(issued).toEqual({ actor_type: 'api-client', actor_id: clientId });
  });

  it('answers 400 naming the field, 404 for an unknown account, 401 without credentials', async () => {
    const authorization = await adminClient(t, 'second@operator.test');
    const bad = await t.app.inject({
      method: 'POST',
      url: '/admin/login-links',
      headers: { authorization },
      payload: { accountId: ADA, next: '//evil.example' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().field).toBe('next');
    const unknown = await t.app.inject({
      method: 'POST',
      url: '/admin/login-links',
      headers: { authorization },
      payload: { accountId: 'nobody' },
    });
    expect(unknown.statusCode).toBe(404);
    const anonymous = await t.app.inject({
      method: 'POST',
      url: '/admin/login-links',
      payload: { accountId: ADA },
    });
    expect(anonymous.statusCode).toBe(401);
  });
});
