import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessRequest } from '../helpers/access.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { adminClient, importExample, OPERATOR, oauthToken, SECRETS } from '../helpers/directory.js';

const MAILER = 'com.vendor.mailer';
const TIMESHEETS = 'com.vendor.timesheets';
const PER_DAY = 3;
let t: TestApp;
let admin: string;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  t = await createTestApp({
    CUSTOS_ACCESS_REQUESTS_PER_DAY: String(PER_DAY),
    CUSTOS_IN_PROCESS_WORKER: 'false',
  });
  await importExample(t);
  admin = await adminClient(t);
  tokens.mailer = await oauthToken(t, 'mailer', SECRETS.mailerClient);
  tokens.timesheets = await oauthToken(t, 'timesheets', SECRETS.timesheetsClient);
});
afterAll(() => t.close());

function file(clientId: string, body: object) {
  return t.app.inject({
    method: 'POST',
    url: '/app/email-access-requests',
    headers: { authorization: `Bearer ${tokens[clientId]}` },
    payload: body,
  });
}

const fileAsMailer = (useCases: string[]) => file('mailer', accessRequest(MAILER, { useCases }));

async function requestsOf(appKey: string) {
  return (await t.ctx.access.list({ app: appKey, limit: 100 })).values;
}

describe('limits on filing access requests', () => {
  it('keeps one request per app in review, lets a rejected app file a corrected one, and caps filings per day', async () => {
    const inReview = await fileAsMailer(['other']);
    expect(inReview.json()).toMatchObject({ status: 'in-review' });
    const { id } = inReview.json();

    const again = await fileAsMailer(['error-reports']);
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ errorType: 'CONFLICT', field: 'appKey' });
    expect(again.json().errorMessage).toContain(id);
    expect(again.json().errorMessage).toContain('in review');
    // Whoever files it: the operator on the app's behalf meets the same rule.
    await expect(t.ctx.access.submit(accessRequest(MAILER), OPERATOR)).rejects.toMatchObject({
      code: 'CONFLICT',
    });

    const rejected = await t.app.inject({
      method: 'POST',
      url: `/admin/email-access/requests/${id}/reject`,
      headers: { authorization: admin },
      payload: { reason: 'Describe the functionality in more detail' },
    });
    expect(rejected.statusCode).toBe(200);
    // Corrected after the rejection: filed and decided at once.
    expect((await fileAsMailer(['error-reports'])).json().status).toBe('auto-approved');
    // An approved app may still ask for more (a new request); decided requests are not open.
    expect((await fileAsMailer(['marketing'])).json().status).toBe('auto-rejected');

    const capped = await fileAsMailer(['security-alerts']);
    expect(capped.statusCode).toBe(429);
    expect(capped.json()).toMatchObject({ errorType: 'RATE_LIMITED', field: 'appKey' });
    expect(capped.json().errorMessage).toContain(`at most ${PER_DAY}`);
    // The first filing leaves the 24-hour window about a day from now.
    const retryAfter = Number(capped.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(86_400 - 600);
    expect(retryAfter).toBeLessThanOrEqual(86_400);
    // Refused filings write nothing.
    expect((await requestsOf(MAILER)).map((r) => r.status)).toEqual([
      'rejected',
      'auto-approved',
      'auto-rejected',
    ]);
  });

  it('counts filings over a rolling 24 hours', async () => {
    const dayAndAMinuteAgo = new Date(Date.now() - 24 * 3_600_000 - 60_000).toISOString();
    const [first] = await requestsOf(MAILER);
    await t.ctx.database.db
      .updateTable('access_requests')
      .set({ submitted_at: dayAndAMinuteAgo })
      .where('id', '=', first?.id as string)
      .execute();
    expect((await fileAsMailer(['security-alerts'])).statusCode).toBe(201);
    expect((await fileAsMailer(['security-alerts'])).statusCode).toBe(429);
  });

  it('lets only one of several concurrent filings of an app into review', async () => {
    const body = accessRequest(TIMESHEETS, { appName: 'Timesheets', useCases: ['user-sync'] });
    const answers = await Promise.all(Array.from({ length: 6 }, () => file('timesheets', body)));
    const statuses = answers.map((a) => a.statusCode).sort();
    expect(statuses).toEqual([201, 409, 409, 409, 409, 409]);
    expect((await requestsOf(TIMESHEETS)).map((r) => r.status)).toEqual(['in-review']);
  });
});
