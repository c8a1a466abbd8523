import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import {
  ACTIVE_ID,
  ADA,
  adminClient,
  CLOSED_ID,
  exampleDirectory,
  GINA,
  importExample,
  OPERATOR,
  oauthToken,
  SECRETS,
} from '../helpers/directory.js';
import {
  accounts,
  LONG_AGO,
  now,
  REPORT_JWT,
  reportWithBearer,
  reportWithJwt,
  timesheetsToken,
} from '../helpers/reporting.js';
import { until } from '../helpers/wait.js';

let t: TestApp;
let token: string;

beforeAll(async () => {
  t = await createTestApp();
  await importExample(t);
  await t.ctx.directory.closeAccount(CLOSED_ID, OPERATOR);
  token = await timesheetsToken(t);
});
afterAll(() => t.close());

/**
 * Contract (docs/wire-contracts.md#reporting-answers): the error body is exactly {errorType,
 * errorMessage}.
 */
function expectContractError(
  res: { statusCode: number; headers: Record<string, unknown>; json(): unknown },
  status: number,
) {
  expect(res.statusCode).toBe(status);
  expect(res.headers['cycle-period']).toBe('15');
  const body = res.json() as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual(['errorMessage', 'errorType']);
}

describe('report-accounts: statuses', () => {
  it('answers 204 with Cycle-Period when nothing needs action', async () => {
    const res = await reportWithBearer(t, token, accounts([ACTIVE_ID, now()]));
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expect(res.headers['cycle-period']).toBe('15');
  });

  it('lists closed and updated accounts only, in request order', async () => {
    const res = await reportWithBearer(
      t,
      token,
      accounts([ADA, LONG_AGO], [ACTIVE_ID, now()], [CLOSED_ID, now()]),
    );
    expect(res.statusCode).toBe(200);
    expect(res.headers['cycle-period']).toBe('15');
    expect(res.json()).toEqual({
      accounts: [
        { accountId: ADA, status: 'updated' },
        { accountId: CLOSED_ID, status: 'closed' },
      ],
    });
  });

  it('counts an account reported twice once, at its oldest updatedAt', async () => {
    const res = await reportWithBearer(t, token, accounts([ADA, now()], [ADA, LONG_AGO], [ADA, now()]));
    expect(res.json()).toEqual({ accounts: [{ accountId: ADA, status: 'updated' }] });
  });

  it('accepts offsets and fractions of RFC 3339', async () => {
    const res = await reportWithBearer(t, token, accounts([ACTIVE_ID, '2999-01-01T01:00:00.123456+01:00']));
    expect(res.statusCode).toBe(204);
  });

  it('never tells an app about accounts it cannot see, and never records them as held', async () => {
    // Reporter is installed on acme-prod only; Gina is a member of globex-prod only.
    const reporter = await oauthToken(t, 'reporter', SECRETS.readerClient, 'report:personal-data');
    const res = await reportWithBearer(
      t,
      reporter,
      accounts([GINA, LONG_AGO], ['no-such-account', LONG_AGO]),
    );
    expect(res.statusCode).toBe(204);
    const held = await t.ctx.database.db
      .selectFrom('holdings')
      .select('account_id')
      .where('app_key', '=', 'com.vendor.reporter')
      .execute();
    expect(held).toEqual([]);
  });

  it('serves the Connect entry point with the installation JWT, limited to that installation site', async () => {
    const res = await reportWithJwt(
      t,
      'ts-acme-1',
      SECRETS.tsAcme,
      accounts([CLOSED_ID, now()], [GINA, LONG_AGO]),
    );
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ accounts: [{ accountId: CLOSED_ID, status: 'closed' }] });
    const globex = await reportWithJwt(t, 'ts-globex-1', SECRETS.tsGlobex, accounts([GINA, LONG_AGO]));
    expect(globex.json()).toEqual({ accounts: [{ accountId: GINA, status: 'updated' }] });
  });

  it('accepts the path without its trailing slash (the official helper) and with one on the Connect path', async () => {
    const bare = await reportWithBearer(t, token, accounts([CLOSED_ID, now()]), '/app/report-accounts');
    expect(bare.statusCode).toBe(200);
    const slash = await reportWithJwt(
      t,
      'ts-acme-1',
      SECRETS.tsAcme,
      accounts([ACTIVE_ID, now()]),
      `${REPORT_JWT}/`,
    );
    expect(slash.statusCode).toBe(204);
  });

  it('records every visible account in the holdings register', async () => {
    const rows = await t.ctx.database.db
      .selectFrom('holdings')
      .select(['account_id', 'retrieved_at'])
      .where('app_key', '=', 'com.vendor.timesheets')
      .orderBy('account_id')
      .execute();
    expect(rows.map((r) => r.account_id).sort()).toEqual([ADA, ACTIVE_ID, CLOSED_ID, GINA].sort());
  });
});

describe("report-accounts: an account that left the app's sites", () => {
  it('is still closed for an app that holds it, and unknown to one that never did', async () => {
    const file = exampleDirectory();
    file.accounts = file.accounts?.filter((a) => a.accountId !== CLOSED_ID);
    file.sites = file.sites?.map((s) => ({ ...s, members: s.members?.filter((m) => m !== CLOSED_ID) }));
    await importExample(t, file);
    const res = await reportWithJwt(t, 'ts-acme-1', SECRETS.tsAcme, accounts([CLOSED_ID, now()]));
    expect(res.json()).toEqual({ accounts: [{ accountId: CLOSED_ID, status: 'closed' }] });
    const reporter = await oauthToken(t, 'reporter', SECRETS.readerClient, 'report:personal-data');
    expect((await reportWithBearer(t, reporter, accounts([CLOSED_ID, now()]))).statusCode).toBe(204);
  });
});

describe('report-accounts: refusals', () => {
  const tooMany = {
    accounts: Array.from({ length: 91 }, (_, i) => ({ accountId: `a-${i}`, updatedAt: LONG_AGO })),
  };
  const cases: [string, unknown][] = [
    ['more than 90 accounts', tooMany],
    ['no accounts', { accounts: [] }],
    ['accounts not an array', { accounts: 'x' }],
    ['a missing accounts', {}],
    ['an unknown top-level property', { accounts: [{ accountId: ADA, updatedAt: LONG_AGO }], extra: 1 }],
    ['an unknown account property', { accounts: [{ accountId: ADA, updatedAt: LONG_AGO, email: 'x@y.z' }] }],
    ['an invalid accountId', accounts(['ada lovelace', LONG_AGO])],
    ['an over-long accountId', accounts(['a'.repeat(129), LONG_AGO])],
    ['the reserved id unknown', accounts(['unknown', LONG_AGO])],
    ['a date without time', accounts([ADA, '2018-10-25'])],
    ['a time without offset', accounts([ADA, '2018-10-25T23:08:51'])],
    ['an impossible date', accounts([ADA, '2018-02-30T00:00:00Z'])],
    ['a number as updatedAt', { accounts: [{ accountId: ADA, updatedAt: 1540508931 }] }],
    ['a missing updatedAt', { accounts: [{ accountId: ADA }] }],
    ['an array body', [{ accountId: ADA, updatedAt: LONG_AGO }]],
  ];
  it.each(cases)('answers 400 {errorType, errorMessage} to %s', async (_name, payload) => {
    expectContractError(await reportWithBearer(t, token, payload), 400);
  });

  it.each([
    '9999-12-31T23:59:59-01:00', // its instant is in year 10000
    '0000-01-01T00:00:00+00:01', // its instant is in year -1
  ])(
    'answers 400 naming updatedAt to %s, outside years 0000-9999, and records nothing',
    async (updatedAt) => {
      const holdings = () =>
        t.ctx.database.db
          .selectFrom('holdings')
          .select(['account_id', 'retrieved_at'])
          .where('app_key', '=', 'com.vendor.timesheets')
          .orderBy('account_id')
          .execute();
      const before = await holdings();
      const res = await reportWithBearer(t, token, accounts([GINA, LONG_AGO], [ADA, updatedAt]));
      expectContractError(res, 400);
      expect((res.json() as { errorMessage: string }).errorMessage).toBe(
        'accounts[1].updatedAt must be an RFC 3339 date-time of years 0000-9999 (UTC) such as 2026-11-24T09:30:00Z',
      );
      expect(await holdings()).toEqual(before);
    },
  );

  it('accepts the last instant of year 9999 and stores it as text that sorts as time', async () => {
    const res = await reportWithBearer(t, token, accounts([ACTIVE_ID, '9999-12-31T23:59:59.999+00:00']));
    expect(res.statusCode).toBe(204);
    await until(async () => {
      const row = await t.ctx.database.db
        .selectFrom('holdings')
        .select('retrieved_at')
        .where('app_key', '=', 'com.vendor.timesheets')
        .where('account_id', '=', ACTIVE_ID)
        .executeTakeFirst();
      return row?.retrieved_at === '9999-12-31T23:59:59.999Z';
    });
  });

  it('answers 400 to malformed JSON', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/app/report-accounts/',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: '{"accounts": [',
    });
    expectContractError(res, 400);
  });

  it('answers 401 without credentials, and 403 to an app without report:personal-data', async () => {
    expectContractError(
      await t.app.inject({
        method: 'POST',
        url: '/app/report-accounts/',
        payload: accounts([ADA, LONG_AGO]),
      }),
      401,
    );
    const mailer = await oauthToken(t, 'mailer', SECRETS.mailerClient);
    expectContractError(await reportWithBearer(t, mailer, accounts([ADA, LONG_AGO])), 403);
    expectContractError(
      await reportWithJwt(
        t,
        'ts-acme-1',
        'wrong-secret-wrong-secret-wrong-secret',
        accounts([ADA, LONG_AGO]),
      ),
      401,
    );
  });

  it('refuses an admin token and a bearer token on the Connect path', async () => {
    const admin = await adminClient(t);
    const res = await t.app.inject({
      method: 'POST',
      url: REPORT_JWT,
      headers: { authorization: admin },
      payload: accounts([ADA, LONG_AGO]),
    });
    expectContractError(res, 401);
    expectContractError(await reportWithBearer(t, token, accounts([ADA, LONG_AGO]), REPORT_JWT), 401);
  });
});
