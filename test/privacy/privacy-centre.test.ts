import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAuditEvents } from '../../src/audit/audit.repository.js';
import { listEventsByEmail } from '../../src/consent/consent.repository.js';
import { approveForEmailApi } from '../helpers/access.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import {
  ACTIVE_ID,
  ADA,
  GINA,
  getAsInstallation,
  importExample,
  SECRETS,
  userUrl,
  withBlankOrganizationName,
} from '../helpers/directory.js';
import { accounts, reportWithBearer, timesheetsToken } from '../helpers/reporting.js';
import { until } from '../helpers/wait.js';
import { WebClient } from '../helpers/web.js';

const GMOI_TEXT =
  'Yes, I would like to receive promotional emails including product news, events, and more from Atlassian and its affiliates.';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
  await importExample(t);
});
afterAll(() => t?.close());

/** What Timesheets, installed on Ada's site, gets for Ada from the user API. */
async function adaAsTimesheets() {
  const res = await getAsInstallation(t, 'ts-acme-1', SECRETS.tsAcme, userUrl(ADA));
  expect(res.statusCode).toBe(200);
  return res.json();
}

async function signedIn(accountId = ADA, userAgent = 'Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0') {
  const web = new WebClient(t);
  const session = await web.signIn(accountId, userAgent);
  return { web, session };
}

describe('the privacy centre, signed out', () => {
  it('sends a browser to sign in and answers anything else 401', async () => {
    const web = new WebClient(t);
    const page = await web.get('/privacy');
    expect(page.statusCode).toBe(303);
    expect(page.headers.location).toBe('/login?next=%2Fprivacy');
    const post = await web.post('/privacy/profile', { email: 'public', _csrf: null });
    expect([401, 403]).toContain(post.statusCode);
    expect((await adaAsTimesheets()).emailAddress).toBeUndefined();
  });
});

describe('profile and visibility', () => {
  it('shows each field with its value and choice, and the change reaches the app on its next call', async () => {
    const { web } = await signedIn();
    const page = await web.get('/privacy');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('ada@acme.test');
    expect(page.body).toMatch(/<select id="visibility-email" name="email">[\s\S]*?value="private" selected/);
    expect((await adaAsTimesheets()).emailAddress).toBeUndefined();
    const outboxBefore = await t.ctx.database.db
      .selectFrom('webhook_messages')
      .select('id')
      .where('event_type', '=', 'account.updated')
      .execute();

    const saved = await web.post('/privacy/profile', { email: 'public' });
    expect(saved.statusCode).toBe(303);
    expect(saved.headers.location).toBe('/privacy?done=saved');
    expect((await adaAsTimesheets()).emailAddress).toBe('ada@acme.test');
    const after = await web.get('/privacy?done=saved');
    expect(after.body).toContain('Saved.');
    expect(after.body).toMatch(/name="email">[\s\S]*?value="public" selected/);

    // As an import does: account.updated to the apps that see or hold the account, ids only.
    const told = await t.ctx.database.db
      .selectFrom('webhook_messages')
      .select(['app_key', 'payload'])
      .where('event_type', '=', 'account.updated')
      .execute();
    expect(told.length).toBeGreaterThan(outboxBefore.length);
    const latest = told.at(-1);
    expect(latest?.app_key).toBe('com.vendor.timesheets');
    expect(latest?.payload).toContain(ADA);
    expect(latest?.payload).not.toContain('ada@acme.test');

    const [entry] = (
      await listAuditEvents(t.ctx.database.db, { action: 'account.visibility-changed' })
    ).slice(-1);
    expect(entry).toMatchObject({ actor_type: 'account', actor_id: ADA, account_id: ADA });
    expect(JSON.parse(entry?.details ?? '{}')).toMatchObject({ email: 'public', appsNotified: 1 });
    expect(entry?.details).not.toContain('ada@acme.test');

    expect((await web.post('/privacy/profile', { email: 'private' })).statusCode).toBe(303);
    expect((await adaAsTimesheets()).emailAddress).toBeUndefined();
  });

  it('names the person’s organization by its name, by its id only where it has none', async () => {
    const organizationValue = (body: string) =>
      /<label for="visibility-organization">Organization<\/label><\/th>\s*<td>([^<]*)<\/td>/.exec(body)?.[1];
    const { web } = await signedIn();
    expect(organizationValue((await web.get('/privacy')).body)).toBe('Acme');

    const gina = (await signedIn(GINA)).web;
    await withBlankOrganizationName(t, 'globex', 'Globex', async () => {
      expect(organizationValue((await gina.get('/privacy')).body)).toBe('globex');
    });
    expect(organizationValue((await gina.get('/privacy')).body)).toBe('Globex');
  });

  it('saving the same choices changes and tells nothing', async () => {
    const { web } = await signedIn();
    await web.get('/privacy');
    const before = (await listAuditEvents(t.ctx.database.db, { action: 'account.visibility-changed' }))
      .length;
    const res = await web.post('/privacy/profile', { email: 'private', name: 'public' });
    expect(res.headers.location).toBe('/privacy?done=unchanged');
    expect((await listAuditEvents(t.ctx.database.db, { action: 'account.visibility-changed' })).length).toBe(
      before,
    );
  });

  it('refuses a choice that is not one of the three, naming the field, and changes nothing', async () => {
    const { web } = await signedIn();
    await web.get('/privacy');
    const res = await web.post('/privacy/profile', { email: 'everyone', name: 'private' });
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain('email');
    const unknown = await web.post('/privacy/profile', { shoeSize: 'public' });
    expect(unknown.statusCode).toBe(400);
    expect((await t.ctx.directory.getAccount(ADA)).visibility).toMatchObject({
      email: 'private',
      name: 'public',
    });
  });

  it('refuses a form without its CSRF token', async () => {
    const { web } = await signedIn();
    await web.get('/privacy');
    const res = await web.post('/privacy/profile', { email: 'public', _csrf: null });
    expect(res.statusCode).toBe(403);
    expect((await t.ctx.directory.getAccount(ADA)).visibility.email).toBe('private');
  });
});

describe('marketing consent', () => {
  it('records a one-click yes and a one-click no from the privacy centre, with the text shown', async () => {
    const { web } = await signedIn();
    const page = await web.get('/privacy/consent');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('You have not told us yet');
    expect(page.body).toContain(GMOI_TEXT);

    const given = await web.post('/privacy/consent', {
      key: 'generalMarketingOptIn',
      choice: 'give',
      version: '2020-04-02',
    });
    expect(given.statusCode).toBe(303);
    // Shown at once, applied or not yet.
    const shown = await web.get('/privacy/consent?done=given');
    expect(shown.body).toContain('Yes, you agreed.');
    expect(shown.body).toContain('here, in your privacy centre');

    const event = await until(async () => (await listEventsByEmail(t.ctx.database.db, 'ada@acme.test'))[0]);
    expect(event).toMatchObject({
      key: 'generalMarketingOptIn',
      granted: 1,
      displayed_text: GMOI_TEXT,
      notice_version: '2020-04-02',
      channel: 'privacy-centre',
      account_id: ADA,
    });
    const [audit] = (await listAuditEvents(t.ctx.database.db, { action: 'consent.changed' })).slice(-1);
    expect(audit).toMatchObject({ actor_type: 'account', actor_id: ADA });

    // The API answers the same choice: one record, one truth.
    const config = await t.ctx.consent.getConsentConfiguration({ email: 'ada@acme.test' });
    expect(config.usersChoiceOnMarketingCommunicationOptIn).toBe(true);

    await web.get('/privacy/consent');
    const withdrawn = await web.post('/privacy/consent', {
      key: 'generalMarketingOptIn',
      choice: 'withdraw',
    });
    expect(withdrawn.headers.location).toBe('/privacy/consent?done=withdrawn');
    expect((await web.get('/privacy/consent')).body).toContain('No, you said no.');
    await until(async () => {
      const c = await t.ctx.consent.getConsentConfiguration({ email: 'ada@acme.test' });
      return c.usersChoiceOnMarketingCommunicationOptIn === false;
    });
  });

  it('refuses an unknown key or a version that was never registered', async () => {
    const { web } = await signedIn();
    await web.get('/privacy/consent');
    const key = await web.post('/privacy/consent', { key: 'noSuchKey', choice: 'withdraw' });
    expect(key.statusCode).toBe(400);
    const version = await web.post('/privacy/consent', {
      key: 'generalMarketingOptIn',
      choice: 'give',
      version: '1999-01-01',
    });
    expect(version.statusCode).toBe(400);
    expect(version.body).toContain('version');
  });
});

describe('apps that hold my data', () => {
  it('lists the register, the Email API apps and every disclosure of my email', async () => {
    const { web } = await signedIn();
    // Timesheets was told of Ada's visibility changes above, but never said it keeps her data.
    expect((await web.get('/privacy/apps')).body).toContain('Not reported');

    const token = await timesheetsToken(t);
    const report = await reportWithBearer(t, token, accounts([ADA, '2026-11-01T00:00:00Z']));
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

    const page = await web.get('/privacy/apps');
    expect(page.statusCode).toBe(200);
    const [holdings, readers, disclosures] = page.body.split('<h2>').slice(1);
    expect(holdings).toContain('Timesheets');
    expect(holdings).toContain('https://vendor.test/privacy');
    expect(holdings).not.toContain('Not reported');
    expect(holdings).not.toContain('Mailer');
    expect(readers).toContain('Mailer');
    expect(readers).not.toContain('Timesheets');
    expect(disclosures).toContain('Mailer');
    expect(disclosures).toMatch(/\d{4} at \d{2}:\d{2} UTC/);

    // Grace's page shows none of Ada's register.
    const grace = await signedIn(ACTIVE_ID);
    const theirs = await grace.web.get('/privacy/apps');
    expect(theirs.body).toContain('No app has told us it keeps your data');
    expect(theirs.body).toContain('No app has read your email address');
  });
});

describe('sessions', () => {
  it('lists my sessions, ends one, then all the others, never someone else’s', async () => {
    const { web, session } = await signedIn(ACTIVE_ID);
    const phone = await t.ctx.sessions.create(ACTIVE_ID, {
      userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Mobile Safari/604.1',
    });
    await t.ctx.sessions.create(ACTIVE_ID, { userAgent: 'Mozilla/5.0 (Windows NT 10.0) Chrome/120.0' });
    const adas = await t.ctx.sessions.create(ADA, {});
    const adasBefore = (await t.ctx.sessions.list(ADA)).length;
    const mine = (await t.ctx.sessions.list(ACTIVE_ID)).length;

    const page = await web.get('/privacy/sessions');
    expect(page.body).toContain('Safari on iOS');
    expect(page.body).toContain('Chrome on Windows');
    expect(page.body).toContain('This device');

    const someoneElses = await web.post(`/privacy/sessions/${adas.id}/end`);
    expect(someoneElses.statusCode).toBe(404);
    const own = await web.post(`/privacy/sessions/${session.sessionId}/end`);
    expect(own.statusCode).toBe(409);

    const ended = await web.post(`/privacy/sessions/${phone.id}/end`);
    expect(ended.headers.location).toBe('/privacy/sessions?done=session-ended');
    const list = await t.ctx.sessions.list(ACTIVE_ID);
    expect(list.map((s) => s.id)).not.toContain(phone.id);
    expect(list).toHaveLength(mine - 1);

    await web.get('/privacy/sessions');
    expect((await web.post('/privacy/sessions/end-others')).statusCode).toBe(303);
    expect((await t.ctx.sessions.list(ACTIVE_ID)).map((s) => s.id)).toEqual([session.sessionId]);
    expect(await t.ctx.sessions.list(ADA)).toHaveLength(adasBefore);
    const audit = await listAuditEvents(t.ctx.database.db, {
      action: 'account.session-ended',
      accountId: ACTIVE_ID,
    });
    expect(audit.map((a) => JSON.parse(a.details))).toEqual([{ sessionId: phone.id }, { others: mine - 2 }]);
  });
});
