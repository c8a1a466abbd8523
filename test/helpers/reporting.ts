import type { TestApp } from './app.js';
import { connectJwt, oauthToken, SECRETS } from './directory.js';

export const REPORT_OAUTH = '/app/report-accounts/';
export const REPORT_JWT = '/rest/atlassian-connect/latest/report-accounts';

export type Reported = { accountId: string; updatedAt: string }[];

/** Timesheets' bearer token (installed on both example sites, scope report:personal-data). */
export const timesheetsToken = (t: TestApp) =>
  oauthToken(t, 'timesheets', SECRETS.timesheetsClient, 'report:personal-data');

export function reportWithBearer(t: TestApp, token: string, payload: unknown, url = REPORT_OAUTH) {
  return t.app.inject({
    method: 'POST',
    url,
    headers: { authorization: `Bearer ${token}` },
    payload: payload as object,
  });
}

/** POST as an installation with a fresh Connect JWT, the way atlassian-jwt clients do. */
export function reportWithJwt(
  t: TestApp,
  clientKey: string,
  secret: string,
  payload: unknown,
  url = REPORT_JWT,
) {
  return t.app.inject({
    method: 'POST',
    url,
    headers: { authorization: `JWT ${connectJwt(clientKey, secret, 'POST', url)}` },
    payload: payload as object,
  });
}

/** The art. 19 evidence for one account, as the admin API answers it. */
export async function evidenceOf(t: TestApp, admin: string, accountId: string) {
  const res = await t.app.inject({
    method: 'GET',
    url: `/admin/compliance/accounts/${accountId}`,
    headers: { authorization: admin },
  });
  if (res.statusCode !== 200) throw new Error(`evidence request failed: ${res.statusCode} ${res.body}`);
  return res.json();
}

export const accounts = (...list: [string, string][]) => ({
  accounts: list.map(([accountId, updatedAt]) => ({ accountId, updatedAt })),
});

export const now = () => new Date().toISOString();
export const LONG_AGO = '2018-10-25T23:08:51.382Z';
