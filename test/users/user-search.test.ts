import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveForEmailApi } from '../helpers/access.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import {
  ACTIVE_ID,
  ADA,
  exampleDirectory,
  GINA,
  getAsInstallation,
  getWithBearer,
  importExample,
  oauthToken,
  SECRETS,
} from '../helpers/directory.js';

const search = (query: string) => `/rest/api/3/user/search?query=${encodeURIComponent(query)}`;

describe('GET /rest/api/3/user/search', () => {
  let t: TestApp;
  let token: string;

  beforeAll(async () => {
    t = await createTestApp();
    const file = exampleDirectory();
    const grace = file.accounts?.find((a) => a.accountId === ACTIVE_ID);
    if (grace) grace.visibility = { ...grace.visibility, email: 'public' };
    await importExample(t, file);
    token = await oauthToken(t, 'timesheets', SECRETS.timesheetsClient);
  });
  afterAll(async () => {
    await t?.close();
  });

  const auditOf = () =>
    t.ctx.database.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', 'user.found-by-hidden-email')
      .execute();

  it('finds a member by a public email, exactly and without regard to case, as an array of users', async () => {
    const res = await getWithBearer(t, token, search('  Grace@ACME.test '));
    expect(res.statusCode).toBe(200);
    const users = res.json() as { accountId: string; emailAddress?: string }[];
    expect(users.map((u) => u.accountId)).toEqual([ACTIVE_ID]);
    expect(users[0]?.emailAddress).toBe('grace@acme.test');
    expect(await auditOf()).toHaveLength(0);
  });

  it('never matches a prefix, and finds nobody by a hidden email unless the app is approved', async () => {
    for (const query of ['grace@acme', 'gra', 'ada@acme.test', 'ada@acme.tes', 'ADA@']) {
      const res = await getWithBearer(t, token, search(query));
      expect(res.statusCode, query).toBe(200);
      expect(res.json(), query).toEqual([]);
    }
    expect(await auditOf()).toHaveLength(0);
  });

  it('matches a public name exactly', async () => {
    const res = await getWithBearer(t, token, search('ADA'));
    expect((res.json() as { accountId: string }[]).map((u) => u.accountId)).toEqual([ADA]);
    expect((await getWithBearer(t, token, search('ad'))).json()).toEqual([]);
  });

  it('finds by a hidden email for an app approved for the Email API, audited, without showing the address', async () => {
    await approveForEmailApi(t, 'com.vendor.mailer');
    const res = await getAsInstallation(t, 'mailer-acme', SECRETS.mailerAcme, search('ada@acme.test'));
    expect(res.statusCode).toBe(200);
    const users = res.json() as { accountId: string; emailAddress?: string }[];
    expect(users.map((u) => u.accountId)).toEqual([ADA]);
    expect(users[0]?.emailAddress).toBeUndefined();
    const audit = await auditOf();
    expect(audit).toHaveLength(1);
    expect(audit[0]?.account_id).toBe(ADA);
    expect(audit[0]?.app_key).toBe('com.vendor.mailer');
    expect(JSON.stringify(audit)).not.toContain('@acme.test');
  });

  it('finds only members of the app’s sites', async () => {
    // Mailer is installed on acme-prod only; Gina is on globex-prod.
    const res = await getAsInstallation(t, 'mailer-acme', SECRETS.mailerAcme, search('gina@globex.test'));
    expect(res.json()).toEqual([]);
    const byName = await getAsInstallation(t, 'mailer-acme', SECRETS.mailerAcme, search('gina'));
    expect(byName.json()).toEqual([]);
    const timesheets = await getWithBearer(t, token, search('gina'));
    expect((timesheets.json() as { accountId: string }[]).map((u) => u.accountId)).toEqual([GINA]);
  });

  it('answers 400 naming the field without a query, and 401 without credentials', async () => {
    const res = await getWithBearer(t, token, '/rest/api/3/user/search');
    expect(res.statusCode).toBe(400);
    expect(res.json().field).toBe('query');
    const tooBig = await getWithBearer(t, token, `${search('x')}&maxResults=5000`);
    expect(tooBig.statusCode).toBe(400);
    expect(tooBig.json().field).toBe('maxResults');
    const anonymous = await t.app.inject({ method: 'GET', url: search('ada') });
    expect(anonymous.statusCode).toBe(401);
  });

  it.each(['1000001', '9223372036854775807', '100000000000000000000', '1e300'])(
    'answers 400 naming startAt to startAt=%s, never a server error',
    async (startAt) => {
      const res = await getWithBearer(t, token, `${search('ada')}&startAt=${startAt}`);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ field: 'startAt' });
      expect(res.json().errorMessage).toContain('at most 1000000');
    },
  );

  it('asks the engine for a bounded number of rows whatever startAt a caller without the schema passes', async () => {
    const app = {
      kind: 'app' as const,
      appKey: 'com.vendor.timesheets',
      via: 'oauth' as const,
      siteIds: ['acme-prod'],
      scopes: new Set(['read:user']),
    };
    for (const startAt of [1e20, Number.MAX_SAFE_INTEGER, 1e300]) {
      const found = await t.ctx.users.searchUsers(app, { query: 'ada', startAt, maxResults: 50 }, 'http://x');
      expect(found, String(startAt)).toEqual([]);
    }
    const first = await t.ctx.users.searchUsers(
      app,
      { query: 'ada', startAt: 0, maxResults: 1e20 },
      'http://x',
    );
    expect(first.map((u) => u.accountId)).toEqual([ADA]);
  });

  it('answers the pages at the bounds of startAt and maxResults', async () => {
    const first = await getWithBearer(t, token, `${search('ada')}&startAt=0&maxResults=1000`);
    expect((first.json() as { accountId: string }[]).map((u) => u.accountId)).toEqual([ADA]);
    const last = await getWithBearer(t, token, `${search('ada')}&startAt=1000000&maxResults=1000`);
    expect(last.statusCode).toBe(200);
    expect(last.json()).toEqual([]);
  });
});
