import { Version3Client } from 'jira.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveForEmailApi } from '../helpers/access.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { ACTIVE_ID, ADA, GINA, importExample, oauthToken, SECRETS } from '../helpers/directory.js';

/**
 * The official-style client against a running Custos over real HTTP: jira.js signs its own
 * Connect JWTs (with its own qsh code) and parses the answers, so this shows the wire format
 * is the documented one, not just one our tests agree with.
 */
let t: TestApp;
let host: string;

beforeAll(async () => {
  t = await createTestApp();
  await importExample(t);
  await approveForEmailApi(t, 'com.vendor.mailer');
  host = await t.app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(() => t.close());

const jwtClient = (issuer: string, secret: string) =>
  new Version3Client({ host, authentication: { jwt: { issuer, secret } } });

describe('jira.js against Custos', () => {
  it('reads a user and a page of users with a Connect JWT', async () => {
    const client = jwtClient('ts-acme-1', SECRETS.tsAcme);
    const user = await client.users.getUser({ accountId: ADA });
    expect(user).toMatchObject({
      accountId: ADA,
      accountType: 'atlassian',
      displayName: 'Ada Lovelace',
      active: true,
    });
    expect(user.emailAddress).toBeUndefined();
    const page = await client.users.bulkGetUsers({ accountId: [ADA, ACTIVE_ID, GINA] });
    expect(page.values?.map((u) => u.accountId)).toEqual([ADA, ACTIVE_ID]);
    expect(page.total).toBe(2);
  });

  it('reads emails through the Email API as an approved app', async () => {
    const client = jwtClient('mailer-acme', SECRETS.mailerAcme);
    expect(await client.users.getUserEmail({ accountId: ADA })).toEqual({
      accountId: ADA,
      email: 'ada@acme.test',
    });
    const bulk = await client.users.getUserEmailBulk({ accountId: [ADA, ACTIVE_ID] });
    expect(bulk).toEqual([
      { accountId: ADA, email: 'ada@acme.test' },
      { accountId: ACTIVE_ID, email: 'grace@acme.test' },
    ]);
  });

  it('reads a user with an OAuth bearer token', async () => {
    const accessToken = await oauthToken(t, 'timesheets', SECRETS.timesheetsClient);
    const client = new Version3Client({ host, authentication: { oauth2: { accessToken } } });
    expect(await client.users.getUser({ accountId: GINA })).toMatchObject({
      accountId: GINA,
      displayName: 'gina',
    });
  });

  it('surfaces a refused JWT as an error', async () => {
    const client = jwtClient('ts-acme-1', SECRETS.tsGlobex);
    await expect(client.users.getUser({ accountId: ADA })).rejects.toThrow();
  });
});
