import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { ACTIVE_ID, ADA, GINA, importExample } from '../helpers/directory.js';
import { until } from '../helpers/wait.js';
import { WebClient } from '../helpers/web.js';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ CUSTOS_WORKER_POLL_MS: '10' });
  await importExample(t);
  await t.ctx.operators.grant(GINA, 'auditor', { type: 'operator', id: 'test' });
});
afterAll(async () => {
  await t?.close();
});

describe('the DSR pages without a browser', () => {
  it('files from the privacy centre with a plain form post, and shows the request with its due date', async () => {
    const ada = new WebClient(t);
    await ada.signIn(ADA);
    const page = await ada.get('/privacy/requests');
    expect(page.statusCode, page.body).toBe(200);
    expect(page.body).toContain('Make a request');
    const posted = await ada.post('/privacy/requests', { type: 'restriction', details: '' });
    expect(posted.statusCode, posted.body).toBe(303);
    const [filed] = await t.ctx.dsr.list({ accountId: ADA });
    await until(async () => (await t.ctx.dsr.get(filed?.id as string)).state === 'completed', {
      message: 'restriction',
    });
    const after = await ada.get('/privacy/requests');
    expect(after.body).toContain('Restriction');
    expect(after.body).toContain('Lift the restriction');
  });

  it('refuses a form post without the CSRF token, and a bad type naming the field', async () => {
    const ada = new WebClient(t);
    await ada.signIn(ADA);
    await ada.get('/privacy/requests');
    expect((await ada.post('/privacy/requests', { type: 'access', _csrf: null })).statusCode).toBe(403);
    const bad = await ada.post('/privacy/requests', { type: 'forget-me' });
    expect(bad.statusCode).toBe(400);
  });

  it('lets an auditor read the queue but not act, and keeps people without a role out', async () => {
    const auditor = new WebClient(t);
    await auditor.signIn(GINA);
    const queue = await auditor.get('/console/requests');
    expect(queue.statusCode, queue.body).toBe(200);
    expect(queue.body).toContain('Needs attention');
    const [r] = await t.ctx.dsr.list({ accountId: ADA });
    const detail = await auditor.get(`/console/requests/${r?.id}`);
    expect(detail.statusCode).toBe(200);
    expect(detail.body).not.toContain('Lift the restriction');
    expect((await auditor.post(`/console/requests/${r?.id}/deny`, { reason: 'no' })).statusCode).toBe(403);
    const person = new WebClient(t);
    await person.signIn(ADA);
    expect((await person.get('/console/requests')).statusCode).toBe(403);
  });

  it('shows what the person wrote only to roles that may read account profiles', async () => {
    const filed = await t.ctx.dsr.file(
      {
        accountId: ADA,
        type: 'rectification',
        details: 'My name is Ada Byron',
        via: 'console',
        signedIn: false,
      },
      { type: 'operator', id: 'test' },
    );
    await t.ctx.dsr.deny(filed.id, 'Ada Byron is not shown on any document', {
      type: 'operator',
      id: 'test',
    });
    // A reviewer decides Email API access; its `read` shows no account profiles.
    await t.ctx.operators.grant(ACTIVE_ID, 'reviewer', { type: 'operator', id: 'test' });
    const reviewer = new WebClient(t);
    await reviewer.signIn(ACTIVE_ID);
    const hidden = await reviewer.get(`/console/requests/${filed.id}`);
    expect(hidden.statusCode, hidden.body).toBe(200);
    expect(hidden.body).toContain('Refused');
    expect(hidden.body).not.toContain('Ada Byron');
    expect(hidden.body).toContain('shown to roles that may read account profiles');

    const auditor = new WebClient(t);
    await auditor.signIn(GINA);
    const shown = await auditor.get(`/console/requests/${filed.id}`);
    expect(shown.statusCode).toBe(200);
    expect(shown.body).toContain('My name is Ada Byron');
    expect(shown.body).toContain('Ada Byron is not shown on any document');
  });

  it("shows a failed step's message only to roles that may read account profiles", async () => {
    const filed = await t.ctx.dsr.file(
      { accountId: ADA, type: 'access', via: 'console', signedIn: false },
      { type: 'operator', id: 'test' },
    );
    const message = 'mail refused: 550 <ada.private@acme.test> mailbox unavailable';
    await t.ctx.database.db
      .updateTable('dsr_requests')
      .set({ last_error: message })
      .where('id', '=', filed.id)
      .execute();
    await t.ctx.operators.grant(ACTIVE_ID, 'reviewer', { type: 'operator', id: 'test' });
    const reviewer = new WebClient(t);
    await reviewer.signIn(ACTIVE_ID);
    const auditor = new WebClient(t);
    await auditor.signIn(GINA);
    for (const url of ['/console/requests', `/console/requests/${filed.id}`]) {
      const hidden = await reviewer.get(url);
      expect(hidden.statusCode, hidden.body).toBe(200);
      expect(hidden.body).toContain('a step failed');
      expect(hidden.body).not.toContain('ada.private@acme.test');
      const shown = await auditor.get(url);
      expect(shown.statusCode).toBe(200);
      expect(shown.body).toContain('ada.private@acme.test');
    }
  });
});
