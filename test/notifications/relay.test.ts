import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp } from '../helpers/app.js';
import {
  ACTIVE_ID,
  ADA,
  connectJwt,
  GINA,
  importExample,
  oauthToken,
  SECRETS,
} from '../helpers/directory.js';
import { until } from '../helpers/wait.js';
import { WebClient } from '../helpers/web.js';
import {
  notification,
  notificationStatus,
  notify,
  PEOPLE,
  PUBLIC_URL,
  personEmail,
  personId,
  type RelayFixture,
  relayDirectory,
  relayFixture,
} from './relay-fixture.js';

const MUTED = 7;

async function settled(f: RelayFixture, id: string, token = f.token) {
  return until(
    async () => {
      const res = await notificationStatus(f.t, token, id);
      const body = res.json() as { recipients: { accountId: string; state: string }[] };
      return body.recipients.every((r) => r.state !== 'pending') ? body : undefined;
    },
    { timeoutMs: 60_000, message: 'every recipient decided' },
  );
}

describe('the notification relay', () => {
  let f: RelayFixture;

  beforeAll(async () => {
    f = await relayFixture();
  });
  afterAll(async () => {
    await f?.close();
  });

  it('mails 100 people by account id without the app seeing an address, skipping who muted the app, with one-click unsubscribe', async () => {
    // One person turns Timesheets off in the privacy centre.
    const person = new WebClient(f.t);
    await person.signIn(personId(MUTED));
    const page = await person.get('/privacy/notifications');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Allow notifications from Timesheets');
    const saved = await person.post('/privacy/notifications', { appKey: 'com.vendor.timesheets' });
    expect(saved.statusCode).toBe(303);

    const ids = Array.from({ length: PEOPLE }, (_, i) => personId(i));
    const res = await notify(f.t, f.token, notification(ids));
    expect(res.statusCode).toBe(202);
    const { id } = res.json() as { id: string };
    expect(Object.keys(res.json())).toEqual(['id']);

    const status = await settled(f, id);
    for (const r of status.recipients)
      expect(r.state, r.accountId).toBe(r.accountId === personId(MUTED) ? 'suppressed' : 'sent');
    const answer = (await notificationStatus(f.t, f.token, id)).body;
    expect(answer).not.toContain('@');

    await until(() => f.box.received.length >= PEOPLE - 1, { timeoutMs: 60_000, message: '99 mails' });
    for (let i = 0; i < PEOPLE; i++) expect(f.box.mailsTo(personEmail(i)).length).toBe(i === MUTED ? 0 : 1);
    const mail = f.box.mailsTo(personEmail(1))[0];
    expect(mail?.headers.get('subject')).toBe('[Timesheets] Your timesheet is due');
    expect(mail?.headers.get('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    const link = /^<(https:\/\/[^>]+)>$/.exec(mail?.headers.get('list-unsubscribe') ?? '')?.[1];
    expect(link?.startsWith(`${PUBLIC_URL}/notifications/unsubscribe?t=`)).toBe(true);
    expect(mail?.body).toContain('Please submit your timesheet for this week.');
    expect(mail?.body).toContain('Message from Timesheets');

    // No address anywhere in the logs, the audit log or the jobs.
    expect(f.t.logs.join('\n')).not.toMatch(/@acme\.test/);
    const audit = await f.t.ctx.database.db.selectFrom('audit_events').selectAll().execute();
    expect(JSON.stringify(audit)).not.toMatch(/@acme\.test/);
    expect(audit.filter((e) => e.action === 'notification.sent')).toHaveLength(PEOPLE - 1);
    expect(audit.filter((e) => e.action === 'notification.requested')).toHaveLength(1);
    const jobs = await f.t.ctx.database.db.selectFrom('jobs').selectAll().execute();
    expect(JSON.stringify(jobs)).not.toMatch(/@acme\.test/);

    // RFC 8058 one-click: a POST with List-Unsubscribe=One-Click, no cookie, no CSRF token.
    const url = new URL(link as string);
    const oneClick = await f.t.app.inject({
      method: 'POST',
      url: `${url.pathname}${url.search}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'List-Unsubscribe=One-Click',
    });
    expect(oneClick.statusCode).toBe(200);
    expect(oneClick.json()).toEqual({ unsubscribed: true });

    const again = await notify(f.t, f.token, notification([personId(1), personId(2)]));
    const second = await settled(f, (again.json() as { id: string }).id);
    expect(second.recipients).toEqual([
      { accountId: personId(1), state: 'suppressed' },
      { accountId: personId(2), state: 'sent' },
    ]);
    await f.box.waitForMail(personEmail(2), 2);
    expect(f.box.mailsTo(personEmail(1))).toHaveLength(1);
  }, 150_000);

  it('answers a repeated idempotency key with the first id, and refuses it for other content', async () => {
    const body = notification([personId(10)]);
    const first = await notify(f.t, f.token, body);
    const repeat = await notify(f.t, f.token, body);
    expect(first.statusCode).toBe(202);
    expect(repeat.statusCode).toBe(202);
    expect(repeat.json()).toEqual(first.json());
    const changed = await notify(f.t, f.token, { ...body, subject: 'Something else' });
    expect(changed.statusCode).toBe(409);
    expect(changed.json().field).toBe('idempotencyKey');
    await settled(f, (first.json() as { id: string }).id);
    expect(f.box.mailsTo(personEmail(10))).toHaveLength(2); // one from the first test, one here
  });

  it('answers an account the app cannot reach exactly like a suppressed one', async () => {
    // Mailer is installed on acme-prod only: Gina (globex-prod) and an unknown id are out of reach.
    const url = '/app/notifications';
    const body = notification([ADA, GINA, 'no-such-account']);
    const res = await f.t.app.inject({
      method: 'POST',
      url,
      headers: { authorization: `JWT ${connectJwt('mailer-acme', SECRETS.mailerAcme, 'POST', url)}` },
      payload: body,
    });
    expect(res.statusCode).toBe(202);
    const id = (res.json() as { id: string }).id;
    const statusUrl = `/app/notifications/${id}`;
    const status = await until(
      async () => {
        const r = await f.t.app.inject({
          method: 'GET',
          url: statusUrl,
          headers: {
            authorization: `JWT ${connectJwt('mailer-acme', SECRETS.mailerAcme, 'GET', statusUrl)}`,
          },
        });
        const b = r.json() as { recipients: { accountId: string; state: string }[] };
        return b.recipients.every((x) => x.state !== 'pending') ? b : undefined;
      },
      { timeoutMs: 20_000, message: 'decided' },
    );
    expect(status.recipients).toEqual([
      { accountId: ADA, state: 'sent' },
      { accountId: GINA, state: 'suppressed' },
      { accountId: 'no-such-account', state: 'suppressed' },
    ]);
    const mail = await f.box.waitForMail('ada@acme.test');
    expect(mail.headers.get('subject')).toBe('[Mailer] Your timesheet is due');
    expect(f.box.mailsTo('gina@globex.test')).toHaveLength(0);
    // Another app cannot read it.
    expect((await notificationStatus(f.t, f.token, id)).statusCode).toBe(404);
  });

  it('puts the app’s HTML inside the template only as the allow list rebuilds it', async () => {
    const res = await notify(
      f.t,
      f.token,
      notification([personId(20)], {
        html: '<p>Hello <strong>there</strong></p></div></body><script>alert(1)</script><img src="https://tracker.test/x.png"><a href="javascript:alert(1)">x</a><a href="https://vendor.test/sheet">sheet</a>',
      }),
    );
    expect(res.statusCode).toBe(202);
    await settled(f, (res.json() as { id: string }).id);
    const mail = f.box.mailsTo(personEmail(20)).at(-1);
    expect(mail?.body).toContain('<p>Hello <strong>there</strong></p>');
    expect(mail?.body).toContain('<a href="https://vendor.test/sheet">sheet</a>');
    expect(mail?.body).not.toContain('alert(1)');
    expect(mail?.body).not.toContain('tracker.test');
    expect(mail?.body).toContain('Stop notifications from Timesheets');
  });

  it('refuses bad input with a 4xx naming the field', async () => {
    const tooMany = Array.from({ length: 101 }, (_, i) => `id-${i}`);
    const cases: [Record<string, unknown>, string][] = [
      [notification(tooMany), 'accountIds'],
      [notification([]), 'accountIds'],
      [notification(['bad id']), 'accountIds'],
      [notification([ADA], { category: 'Not A Category' }), 'category'],
      [notification([ADA], { subject: 'two\nlines' }), 'subject'],
      [notification([ADA], { idempotencyKey: '' }), 'idempotencyKey'],
      [notification([ADA], { text: undefined }), 'text'],
      [{ ...notification([ADA]), extra: 1 }, 'extra'],
    ];
    for (const [body, field] of cases) {
      const res = await notify(f.t, f.token, body);
      expect(res.statusCode, field).toBe(400);
      expect(res.json().field ?? res.json().errorMessage, field).toContain(field);
    }
    const other = await notificationStatus(f.t, f.token, 'no-such-id');
    expect(other.statusCode).toBe(404);
  });

  it('needs the send:notification scope', async () => {
    const reporter = await oauthToken(f.t, 'reporter', SECRETS.readerClient);
    const res = await notify(f.t, reporter, notification([ACTIVE_ID]));
    expect(res.statusCode).toBe(403);
    const none = await f.t.app.inject({
      method: 'POST',
      url: '/app/notifications',
      payload: notification([ADA]),
    });
    expect(none.statusCode).toBe(401);
  });

  it('unsubscribes through the confirm page without signing in', async () => {
    const url = new URL(
      f.t.ctx.notifications.unsubscribeUrl({ accountId: personId(30), appKey: 'com.vendor.timesheets' }),
    );
    const browser = new WebClient(f.t);
    const page = await browser.get(`${url.pathname}${url.search}`);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Stop notifications from Timesheets?');
    const t = url.searchParams.get('t') as string;
    const done = await browser.post('/notifications/unsubscribe/confirm', { t });
    expect(done.statusCode).toBe(303);
    const after = await browser.get(done.headers.location as string);
    expect(after.body).toContain('Notifications from Timesheets are off');
    const choices = await f.t.ctx.notifications.listChoices(personId(30));
    expect(choices.find((c) => c.appKey === 'com.vendor.timesheets')?.enabled).toBe(false);

    const forged = await browser.get(`/notifications/unsubscribe?t=${t.slice(0, -2)}xx`);
    expect(forged.statusCode).toBe(404);
    const forgedPost = await f.t.app.inject({
      method: 'POST',
      url: `/notifications/unsubscribe?t=${t.slice(0, -2)}xx`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'List-Unsubscribe=One-Click',
    });
    expect(forgedPost.statusCode).toBe(404);
    const noBody = await f.t.app.inject({
      method: 'POST',
      url: `${url.pathname}${url.search}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'something=else',
    });
    expect(noBody.statusCode).toBe(400);
  });

  it('saves choices per category', async () => {
    const person = new WebClient(f.t);
    await person.signIn(personId(40));
    await person.get('/privacy/notifications');
    // Categories appear once the app has used them for this person.
    for (const category of ['reminders', 'mentions']) {
      const r = await notify(f.t, f.token, notification([personId(40)], { category }));
      await settled(f, (r.json() as { id: string }).id);
    }
    const page = await person.get('/privacy/notifications');
    expect(page.body).toContain('value="mentions"');
    const form = new URLSearchParams({
      _csrf: person.csrfToken as string,
      appKey: 'com.vendor.timesheets',
      enabled: 'on',
    });
    form.append('shown', 'mentions');
    form.append('shown', 'reminders');
    form.append('category', 'mentions');
    const saved = await f.t.app.inject({
      method: 'POST',
      url: '/privacy/notifications',
      payload: form.toString(),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'text/html',
        cookie: [...person.cookies].map(([n, v]) => `${n}=${v}`).join('; '),
      },
    });
    expect(saved.statusCode).toBe(303);
    const choices = (await f.t.ctx.notifications.listChoices(personId(40))).find(
      (c) => c.appKey === 'com.vendor.timesheets',
    );
    expect(choices).toEqual({
      appKey: 'com.vendor.timesheets',
      appName: 'Timesheets',
      enabled: true,
      categories: [
        { category: 'mentions', enabled: true },
        { category: 'reminders', enabled: false },
      ],
    });
    const r = await notify(f.t, f.token, notification([personId(40)], { category: 'reminders' }));
    const status = await settled(f, (r.json() as { id: string }).id);
    expect(status.recipients[0]?.state).toBe('suppressed');
    const unknownApp = await person.post('/privacy/notifications', { appKey: 'com.vendor.unknown' });
    expect(unknownApp.statusCode).toBe(404);
  });
});

describe('the console’s notification volumes', () => {
  it('shows each app’s recipients by outcome to operators with read, and no one else', async () => {
    const f = await relayFixture();
    try {
      const res = await notify(f.t, f.token, notification([personId(1), personId(2), 'no-such-account']));
      await settled(f, (res.json() as { id: string }).id);
      await f.t.ctx.operators.grant(ADA, 'auditor', { type: 'operator', id: 'test' });
      const operator = new WebClient(f.t);
      await operator.signIn(ADA);
      const page = await operator.get('/console/notifications');
      expect(page.statusCode).toBe(200);
      expect(page.body).toContain('Timesheets');
      expect(page.body).not.toContain('@acme.test');
      const person = new WebClient(f.t);
      await person.signIn(personId(3));
      expect((await person.get('/console/notifications')).statusCode).toBe(403);
      expect(await f.t.ctx.notifications.volume(30)).toEqual([
        expect.objectContaining({
          appKey: 'com.vendor.timesheets',
          requests: 1,
          recipients: 3,
          sent: 2,
          unknown: 1,
        }),
      ]);
    } finally {
      await f.close();
    }
  });
});

describe('the relay’s limits', () => {
  it('answers 429 with Retry-After past the daily quota, and past the request rate', async () => {
    const f = await relayFixture({ CUSTOS_NOTIFY_DAILY_QUOTA: '5', CUSTOS_NOTIFY_RATE_LIMIT: '3' });
    try {
      const first = await notify(f.t, f.token, notification([personId(1), personId(2), personId(3)]));
      expect(first.statusCode).toBe(202);
      const over = await notify(f.t, f.token, notification([personId(4), personId(5), personId(6)]));
      expect(over.statusCode).toBe(429);
      expect(over.json().field).toBe('accountIds');
      expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
      expect(Number(over.headers['retry-after'])).toBeLessThanOrEqual(86_400);
      const fits = await notify(f.t, f.token, notification([personId(4), personId(5)]));
      expect(fits.statusCode).toBe(202);
      const rate = await notify(f.t, f.token, notification([personId(6)]));
      expect(rate.statusCode).toBe(429);
      expect(Number(rate.headers['retry-after'])).toBeGreaterThan(0);
    } finally {
      await f.close();
    }
  });

  it('is unavailable (503) without a mail server', async () => {
    const t = await createTestApp({ CUSTOS_PUBLIC_URL: PUBLIC_URL });
    try {
      await importExample(t, relayDirectory());
      const token = await oauthToken(t, 'timesheets', SECRETS.timesheetsClient);
      const res = await notify(t, token, notification([personId(1)]));
      expect(res.statusCode).toBe(503);
    } finally {
      await t.close();
    }
  });
});
