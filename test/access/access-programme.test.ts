import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAuditEvents } from '../../src/audit/audit.repository.js';
import { accessRequest } from '../helpers/access.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import {
  ADA,
  adminClient,
  connectJwt,
  exampleDirectory,
  getAsInstallation,
  getWithBearer,
  importExample,
  oauthToken,
  SECRETS,
} from '../helpers/directory.js';
import { until } from '../helpers/wait.js';
import { startReceiver } from '../helpers/webhook-receiver.js';

const SECRET = `whsec_${Buffer.from('endpoint-secret-of-thirty-two-b!').toString('base64')}`;
const MAILER = 'com.vendor.mailer';
const TIMESHEETS = 'com.vendor.timesheets';
const emailUrl = `/rest/api/3/user/email?accountId=${ADA}`;
let t: TestApp;
let admin: string;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  receiver = await startReceiver(SECRET);
  t = await createTestApp({ CUSTOS_ALLOW_PRIVATE_WEBHOOKS: 'true', CUSTOS_WORKER_POLL_MS: '10' });
  const file = exampleDirectory();
  for (const app of file.apps ?? []) app.webhook = { url: receiver.url, secret: SECRET };
  await importExample(t, file);
  admin = await adminClient(t);
});
afterAll(async () => {
  await t.close();
  await receiver.close();
});

async function submitAsMailer(body: unknown, token?: string) {
  const bearer = token ?? (await oauthToken(t, 'mailer', SECRETS.mailerClient));
  return t.app.inject({
    method: 'POST',
    url: '/app/email-access-requests',
    headers: { authorization: `Bearer ${bearer}` },
    payload: body as object,
  });
}

const asAdmin = (method: 'GET' | 'POST', url: string, payload?: object) =>
  t.app.inject({ method, url, headers: { authorization: admin }, ...(payload ? { payload } : {}) });

const mailerEmail = () => getAsInstallation(t, 'mailer-acme', SECRETS.mailerAcme, emailUrl);

function webhooksFor(requestId: string, type: string) {
  return until(
    () =>
      [...receiver.unique.values()].find((r) => {
        const body = r.body as { type?: string; data?: { requestId?: string } };
        return body.type === type && body.data?.requestId === requestId;
      }),
    { message: `a ${type} webhook for ${requestId}` },
  );
}

describe('submitting a request', () => {
  it('names each missing or malformed field with 400', async () => {
    const { companyName: _c, termsUrl: _t, ...partial } = accessRequest(MAILER);
    const res = await submitAsMailer({ ...partial, privacyPolicyUrl: 'not a url', useCases: [] });
    expect(res.statusCode).toBe(400);
    const message = res.json().errorMessage as string;
    for (const field of ['companyName', 'termsUrl', 'privacyPolicyUrl', 'useCases'])
      expect(message).toContain(field);
  });

  it('refuses an unknown use case with 400 naming it', async () => {
    const res = await submitAsMailer(accessRequest(MAILER, { useCases: ['error-reports', 'mind-reading'] }));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ field: 'useCases.1' });
    expect(res.json().errorMessage).toContain('mind-reading');
  });

  it("answers 403 when the appKey is not the caller's", async () => {
    const res = await submitAsMailer(accessRequest(TIMESHEETS));
    expect(res.statusCode).toBe(403);
    expect(res.json().field).toBe('appKey');
  });

  it('requires app authentication', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/app/email-access-requests',
      payload: accessRequest(MAILER),
    });
    expect(res.statusCode).toBe(401);
  });
});

describe('decisions and their effects', () => {
  it('rejects a marketing use case at once, with its reason, and the Email API stays closed', async () => {
    const res = await submitAsMailer(accessRequest(MAILER, { useCases: ['error-reports', 'marketing'] }));
    expect(res.statusCode).toBe(201);
    expect(res.json().status).toBe('auto-rejected');
    const stored = (await asAdmin('GET', `/admin/email-access/requests/${res.json().id}`)).json();
    expect(stored.reason).toContain('marketing');
    expect((await mailerEmail()).statusCode).toBe(400);
    const hook = await webhooksFor(res.json().id, 'access.rejected');
    expect(hook.verified).toBe(true);
    expect((hook.body as { data: { reason: string } }).data.reason).toContain('marketing');
  });

  it('sends an "other" use case to review; the Email API stays closed until a reviewer approves', async () => {
    const res = await submitAsMailer(accessRequest(MAILER, { useCases: ['other'] }));
    expect(res.json().status).toBe('in-review');
    expect((await mailerEmail()).statusCode).toBe(400);
    const queue = (await asAdmin('GET', '/admin/email-access/requests?status=in-review')).json();
    expect(queue.values.map((r: { id: string }) => r.id)).toContain(res.json().id);

    const decided = await asAdmin('POST', `/admin/email-access/requests/${res.json().id}/reject`, {
      reason: 'Describe the functionality in more detail',
    });
    expect(decided.statusCode).toBe(200);
    expect(decided.json()).toMatchObject({
      status: 'rejected',
      decidedBy: expect.stringMatching(/^api-client:/),
    });
    await webhooksFor(res.json().id, 'access.rejected');
  });

  it('approves a complete auto-approvable request from a compliant app at once; the Email API answers', async () => {
    const token = await oauthToken(t, 'mailer', SECRETS.mailerClient);
    expect((await getWithBearer(t, token, emailUrl)).statusCode).toBe(400);
    const res = await submitAsMailer(accessRequest(MAILER), token);
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({ id: expect.stringMatching(/^ear_/), status: 'auto-approved' });
    // The same token, issued before the approval: the API reads the programme's state on every call.
    expect((await getWithBearer(t, token, emailUrl)).statusCode).toBe(200);
    expect((await mailerEmail()).json()).toEqual({ accountId: ADA, email: 'ada@acme.test' });

    const app = (await asAdmin('GET', `/admin/apps/${MAILER}`)).json();
    expect(app.emailApiApproved).toBe(true);
    expect(app.installations[0].scopes).toContain('read:email-address:custos');
    expect((await webhooksFor(res.json().id, 'access.approved')).verified).toBe(true);
  });

  it('revocation cuts access on the very next call and removes the scope', async () => {
    const token = await oauthToken(t, 'mailer', SECRETS.mailerClient);
    expect((await getWithBearer(t, token, emailUrl)).statusCode).toBe(200);
    const res = await asAdmin('POST', `/admin/email-access/apps/${MAILER}/revoke`, {
      reason: 'Addresses were shown in the app UI',
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().map((r: { status: string }) => r.status)).toEqual(['revoked']);
    expect((await getWithBearer(t, token, emailUrl)).statusCode).toBe(400);
    expect((await mailerEmail()).statusCode).toBe(400);
    const app = (await asAdmin('GET', `/admin/apps/${MAILER}`)).json();
    expect(app.emailApiApproved).toBe(false);
    expect(app.installations[0].scopes).not.toContain('read:email-address:custos');
    await webhooksFor(res.json()[0].id, 'access.revoked');
  });

  it('accepts a request by Connect JWT and approves a reviewed one on a reviewer decision', async () => {
    const url = '/app/email-access-requests';
    const res = await t.app.inject({
      method: 'POST',
      url,
      headers: { authorization: `JWT ${connectJwt('ts-acme-1', SECRETS.tsAcme, 'POST', url)}` },
      payload: accessRequest(TIMESHEETS, { appName: 'Timesheets', useCases: ['user-sync'] }),
    });
    expect(res.statusCode).toBe(201);
    expect(res.json().status).toBe('in-review');
    const approved = await asAdmin('POST', `/admin/email-access/requests/${res.json().id}/approve`, {
      reason: 'Sync with the HR system checked',
    });
    expect(approved.json().status).toBe('approved');
    const email = await getAsInstallation(t, 'ts-acme-1', SECRETS.tsAcme, emailUrl);
    expect(email.statusCode).toBe(200);
  });
});

describe('refused transitions', () => {
  it('cannot decide a request that is not in review, nor revoke an app without access', async () => {
    const rejected = (await submitAsMailer(accessRequest(MAILER, { useCases: ['onboarding'] }))).json();
    const approvedId = (await t.ctx.access.list({ status: 'approved', app: TIMESHEETS, limit: 1 })).values[0]
      ?.id;
    for (const [id, action] of [
      [rejected.id, 'approve'],
      [rejected.id, 'reject'],
      [approvedId, 'approve'],
      [approvedId, 'reject'],
    ]) {
      const res = await asAdmin('POST', `/admin/email-access/requests/${id}/${action}`, { reason: 'x' });
      expect(res.statusCode).toBe(409);
      expect(res.json().errorType).toBe('CONFLICT');
    }
    expect(
      (await asAdmin('POST', `/admin/email-access/apps/${MAILER}/revoke`, { reason: 'x' })).statusCode,
    ).toBe(409);
    expect(
      (await asAdmin('POST', '/admin/email-access/requests/ear_nope/approve', { reason: 'x' })).statusCode,
    ).toBe(404);
    expect((await asAdmin('POST', `/admin/email-access/requests/${approvedId}/approve`, {})).statusCode).toBe(
      400,
    );
  });

  it('a revoked approval stays revoked; widening takes a new request', async () => {
    await t.ctx.access.revoke(TIMESHEETS, 'test', { type: 'operator', id: 'test' });
    const revoked = (await t.ctx.access.list({ status: 'revoked', app: TIMESHEETS, limit: 1 })).values[0];
    const res = await asAdmin('POST', `/admin/email-access/requests/${revoked?.id}/approve`, {
      reason: 'again',
    });
    expect(res.statusCode).toBe(409);
  });
});

describe('audit of the programme', () => {
  it('records every transition by id, without the request text', async () => {
    const entries = (await listAuditEvents(t.ctx.database.db)).filter((e) => e.action.startsWith('access.'));
    const actions = new Set(entries.map((e) => e.action));
    for (const a of [
      'access.submitted',
      'access.auto-approved',
      'access.auto-rejected',
      'access.in-review',
      'access.approved',
      'access.rejected',
      'access.revoked',
    ])
      expect(actions).toContain(a);
    expect(JSON.stringify(entries)).not.toContain('vendor.test/privacy');
  });

  it('lists the use-case catalogue with its decisions', async () => {
    const res = await asAdmin('GET', '/admin/email-access/use-cases');
    const decision = Object.fromEntries(
      res.json().map((u: { id: string; decision: string }) => [u.id, u.decision]),
    );
    expect(decision).toMatchObject({
      'error-reports': 'auto',
      'security-alerts': 'auto',
      'user-subscribed-alerts': 'auto',
      'collaboration-invites': 'auto',
      'mail-service-linking': 'review',
      'user-sync': 'review',
      other: 'review',
      'company-event-invites': 'never',
      marketing: 'never',
      onboarding: 'never',
      'renewal-reminders': 'never',
    });
  });
});
