import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { ADA, GINA, importExample } from '../helpers/directory.js';
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
});
