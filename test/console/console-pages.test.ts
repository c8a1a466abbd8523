import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAuditEvents } from '../../src/audit/audit.repository.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import {
  consoleDirectory,
  grantConsoleRoles,
  insertDeadLetter,
  NO_ROLE_ID,
  OPERATOR_IDS,
  requestInReview,
} from '../helpers/console.js';
import { ACTIVE_ID, GINA, importExample, OPERATOR, withBlankOrganizationName } from '../helpers/directory.js';
import { WebClient } from '../helpers/web.js';

const MAILER = 'com.vendor.mailer';
const TIMESHEETS = 'com.vendor.timesheets';
const OFFICER = OPERATOR_IDS['privacy-officer'];
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ CUSTOS_ACCESS_REVIEW_SLA_HOURS: '48' });
  await importExample(t, consoleDirectory());
  await grantConsoleRoles(t);
});
afterAll(() => t.close());

async function signedIn(accountId: string): Promise<WebClient> {
  const client = new WebClient(t);
  await client.signIn(accountId);
  await client.get('/console');
  return client;
}

const actors = async (action: string) =>
  (await listAuditEvents(t.ctx.database.db, { action })).map((e) => `${e.actor_type}:${e.actor_id}`);

describe('console pages', () => {
  it('sends a visitor who is not signed in to sign in, and refuses a person without a role', async () => {
    const anonymous = await new WebClient(t).get('/console/access');
    expect(anonymous.statusCode).toBe(303);
    expect(anonymous.headers.location).toBe('/login?next=%2Fconsole%2Faccess');
    const nobody = await (await signedIn(NO_ROLE_ID)).get('/console');
    expect(nobody.statusCode).toBe(403);
    expect(nobody.body).toContain('Not allowed');
  });

  it('counts overdue requests on the overview and in /metrics, and shows them oldest first with their age', async () => {
    const late = await requestInReview(t, TIMESHEETS);
    const fresh = await requestInReview(t, MAILER);
    const threeDaysAgo = new Date(Date.now() - 3 * 86_400_000).toISOString();
    await t.ctx.database.db
      .updateTable('access_requests')
      .set({ submitted_at: threeDaysAgo })
      .where('id', '=', late)
      .execute();

    const client = await signedIn(OPERATOR_IDS.reviewer);
    const home = await client.get('/console');
    expect(home.statusCode).toBe(200);
    expect(home.body).toMatch(
      /<span class="stat-number">2<\/span>\s*<span class="stat-label">access requests in review/,
    );
    expect(home.body).toMatch(
      /<span class="stat-number">1<\/span>\s*<span class="stat-label">overdue, waiting over 48 h/,
    );

    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toContain('custos_access_requests_in_review{state="all"} 2');
    expect(metrics.body).toContain('custos_access_requests_in_review{state="overdue"} 1');

    const queue = await client.get('/console/access');
    expect(queue.statusCode).toBe(200);
    expect(queue.body.indexOf(late)).toBeLessThan(queue.body.indexOf(fresh));
    expect(queue.body).toContain('waiting <strong>3 d</strong>');
    expect(queue.body).toContain('Overdue');
    expect(queue.body).toContain('Sends error reports and security alerts');
    expect(queue.body).toContain('We use your email address only');
  });

  it('requires a reason for a decision, then decides as the signed-in reviewer', async () => {
    const client = await signedIn(OPERATOR_IDS.reviewer);
    const [request] = (await t.ctx.access.list({ status: 'in-review', app: MAILER, limit: 1 })).values;
    const id = request?.id as string;
    const blank = await client.post(`/console/access/requests/${id}/approve`, { reason: '  ' });
    expect(blank.statusCode).toBe(400);
    expect(blank.body).toContain('reason');
    expect((await t.ctx.access.get(id)).status).toBe('in-review');

    const approved = await client.post(`/console/access/requests/${id}/approve`, { reason: 'Looks right' });
    expect(approved.statusCode).toBe(303);
    expect(approved.headers.location).toBe('/console/access?done=approved');
    expect((await t.ctx.access.get(id)).status).toBe('approved');
    expect(await actors('access.approved')).toEqual([`operator:${OPERATOR_IDS.reviewer}`]);

    const again = await client.post(`/console/access/requests/${id}/reject`, { reason: 'Changed my mind' });
    expect(again.statusCode).toBe(409);
    const page = await client.get('/console/access?done=approved');
    expect(page.body).toContain('The request is approved');
    expect(page.body).toMatch(/Apps with Email API access[\s\S]*com\.vendor\.mailer/);
  });

  it('refuses a form without its CSRF token even to an allowed operator', async () => {
    const client = await signedIn(OPERATOR_IDS.reviewer);
    const res = await client.post('/console/access/apps/com.vendor.mailer/revoke', {
      reason: 'x',
      _csrf: null,
    });
    expect(res.statusCode).toBe(403);
    expect(await t.ctx.access.isApproved(MAILER)).toBe(true);
  });

  it('looks accounts up one at a time, records each look-up, and closes only after confirmation', async () => {
    const client = await signedIn(OFFICER);
    const form = await client.get('/console/accounts');
    expect(form.statusCode).toBe(200);
    expect(form.body).not.toContain('grace@acme.test');
    const bad = await client.get('/console/accounts?accountId=not%20an%20id');
    expect(bad.body).toContain('An accountId is 1–128 characters');
    const lookup = await client.get(`/console/accounts?accountId=${ACTIVE_ID}`);
    expect(lookup.statusCode).toBe(303);
    expect(lookup.headers.location).toBe(`/console/accounts/${ACTIVE_ID}`);

    const view = await client.get(`/console/accounts/${ACTIVE_ID}`);
    expect(view.statusCode).toBe(200);
    expect(view.body).toContain('grace@acme.test');
    expect(view.body).toMatch(/Time zone<\/th><td>America\/New_York<\/td><td>organization/);
    expect(await actors('admin.account-viewed')).toEqual([`operator:${OFFICER}`]);
    expect((await client.get('/console/accounts/no-such-account')).statusCode).toBe(404);

    // The organization by its name, its id beside it; the id alone where it has no name.
    const organizationOf = (body: string) =>
      /<dt>Organization<\/dt><dd>(.*?) <span class="muted">\(visible/.exec(body)?.[1];
    expect(organizationOf(view.body)).toBe('Acme <span class="muted mono">acme</span>');
    await withBlankOrganizationName(t, 'globex', 'Globex', async () => {
      const gina = await client.get(`/console/accounts/${GINA}`);
      expect(gina.statusCode).toBe(200);
      expect(organizationOf(gina.body)).toBe('<span class="mono">globex</span>');
    });
    expect(organizationOf((await client.get(`/console/accounts/${GINA}`)).body)).toBe(
      'Globex <span class="muted mono">globex</span>',
    );

    const unconfirmed = await client.post(`/console/accounts/${ACTIVE_ID}/close`, { confirm: GINA });
    expect(unconfirmed.statusCode).toBe(400);
    expect(unconfirmed.body).toContain('confirm');
    expect((await t.ctx.directory.getAccount(ACTIVE_ID)).active).toBe(true);
    const closed = await client.post(`/console/accounts/${ACTIVE_ID}/close`, { confirm: ACTIVE_ID });
    expect(closed.statusCode).toBe(303);
    expect((await t.ctx.directory.getAccount(ACTIVE_ID)).active).toBe(false);
    expect(await actors('account.closed')).toEqual([`operator:${OFFICER}`]);
  });

  it('pages through the audit log newest first and filters it', async () => {
    await t.ctx.audit.append(
      Array.from({ length: 60 }, (_, i) => ({
        actor: OPERATOR,
        action: 'admin.paging-test' as const,
        appKey: TIMESHEETS,
        details: { n: i },
      })),
    );
    const client = await signedIn(OPERATOR_IDS.auditor);
    const first = await client.get('/console/audit?action=admin.paging-test&app=com.vendor.timesheets');
    expect(first.statusCode).toBe(200);
    const ns = (body: string) => [...body.matchAll(/n: (\d+)/g)].map((m) => Number(m[1]));
    expect(ns(first.body)).toEqual(Array.from({ length: 50 }, (_, i) => 59 - i));
    const next = /href="(\/console\/audit\?[^"]*before=\d+)"/.exec(first.body)?.[1]?.replaceAll('&amp;', '&');
    expect(next).toContain('action=admin.paging-test');
    const second = await client.get(next as string);
    expect(ns(second.body)).toEqual(Array.from({ length: 10 }, (_, i) => 9 - i));

    const future = await client.get('/console/audit?action=admin.paging-test&from=2999-01-01T00:00');
    expect(future.body).toContain('No entry matches');
    const badTime = await client.get('/console/audit?from=yesterday');
    expect(badTime.statusCode).toBe(400);
    expect(badTime.body).toContain('from');

    const verified = await client.post('/console/audit/verify');
    expect(verified.statusCode).toBe(200);
    expect(verified.body).toContain('The chain is intact');
  });

  it('creates a token shown once, lists clients by scope, and revokes the token', async () => {
    const client = await signedIn(OFFICER);
    const created = await client.post('/console/clients/tokens', {
      email: 'crm@operator.test',
      label: 'CRM',
      scopes: 'manage:consent-hub-consent',
    });
    expect(created.statusCode).toBe(200);
    const token = /<p class="mono" id="new-token">([^<]+)<\/p>/.exec(created.body)?.[1];
    expect(token?.length).toBeGreaterThan(20);
    const list = await client.get('/console/clients');
    expect(list.body).toContain('crm@operator.test');
    expect(list.body).not.toContain(token);
    const tokenId = /\/console\/clients\/tokens\/([^/]+)\/revoke/.exec(list.body)?.[1] as string;
    const revoked = await client.post(`/console/clients/tokens/${tokenId}/revoke`);
    expect(revoked.statusCode).toBe(303);
    expect(await actors('admin.token-revoked')).toEqual([`operator:${OFFICER}`]);
    const noScope = await client.post('/console/clients/tokens', { email: 'crm@operator.test' });
    expect(noScope.statusCode).toBe(400);
  });

  it('shows apps with their webhook failures, redelivers a dead letter, rotates a secret shown once', async () => {
    await insertDeadLetter(t, TIMESHEETS, 'msg_dead_pages_1');
    const client = await signedIn(OFFICER);
    const apps = await client.get('/console/apps');
    expect(apps.statusCode).toBe(200);
    expect(apps.body).toContain('never reported');
    const app = await client.get(`/console/apps/${TIMESHEETS}`);
    expect(app.body).toContain('msg_dead_pages_1');
    expect(app.body).toContain('ts-acme-1');
    const redelivered = await client.post(`/console/apps/${TIMESHEETS}/messages/msg_dead_pages_1/redeliver`);
    expect(redelivered.statusCode).toBe(303);
    const twice = await client.post(`/console/apps/${TIMESHEETS}/messages/msg_dead_pages_1/redeliver`);
    expect(twice.statusCode).toBe(409);
    const rotated = await client.post(`/console/apps/${TIMESHEETS}/webhook/rotate`);
    expect(rotated.statusCode).toBe(200);
    expect(rotated.body).toMatch(/New webhook secret, shown once[\s\S]*whsec_/);
    expect(await actors('app.webhook-secret-rotated')).toEqual([`operator:${OFFICER}`]);
    expect((await client.get('/console/apps/com.vendor.nothing')).statusCode).toBe(404);
  });

  it('re-enables an endpoint the app disabled with 410 Gone', async () => {
    await t.ctx.database.db
      .updateTable('apps')
      .set({ webhook_disabled_at: new Date().toISOString(), webhook_disabled_reason: 'HTTP 410' })
      .where('key', '=', TIMESHEETS)
      .execute();
    const client = await signedIn(OFFICER);
    const page = await client.get(`/console/apps/${TIMESHEETS}`);
    expect(page.body).toContain('(HTTP 410)');
    expect(page.body).toContain('Enable the endpoint again');
    const enabled = await client.post(`/console/apps/${TIMESHEETS}/webhook/enable`);
    expect(enabled.statusCode).toBe(303);
    expect(enabled.headers.location).toBe(`/console/apps/${TIMESHEETS}?done=enabled`);
    expect((await client.get(enabled.headers.location as string)).body).not.toContain(
      'Enable the endpoint again',
    );
    expect(await actors('admin.webhook-enabled')).toEqual([`operator:${OFFICER}`]);
  });

  it('lists consent notices and adds a version', async () => {
    const client = await signedIn(OFFICER);
    const added = await client.post('/console/notices', {
      key: 'generalMarketingOptIn',
      version: 'console-1',
      text: 'Send me product news.',
      effectiveAt: '2026-12-01T09:00',
    });
    expect(added.statusCode).toBe(303);
    const list = await client.get('/console/notices');
    expect(list.body).toContain('console-1');
    expect(list.body).toContain('2026-12-01 09:00 UTC');
    expect(await actors('admin.notice-added')).toContain(`operator:${OFFICER}`);
  });
});
