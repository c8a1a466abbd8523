import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAuditEvents } from '../../src/audit/audit.repository.js';
import { GENESIS_HASH, hashOf } from '../../src/audit/audit.service.js';
import { approveForEmailApi } from '../helpers/access.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import {
  ACTIVE_ID,
  ADA,
  adminClient,
  CLOSED_ID,
  GINA,
  getAsInstallation,
  getWithBearer,
  importExample,
  oauthToken,
  SECRETS,
} from '../helpers/directory.js';

let t: TestApp;
const emailUrl = (id: string) => `/rest/api/3/user/email?accountId=${encodeURIComponent(id)}`;
const bulkUrl = (ids: string[]) =>
  `/rest/api/3/user/email/bulk?${ids.map((id) => `accountId=${id}`).join('&')}`;
const asMailer = (path: string, claims = {}) =>
  getAsInstallation(t, 'mailer-acme', SECRETS.mailerAcme, path, claims);

async function disclosures() {
  return listAuditEvents(t.ctx.database.db, { action: 'email.disclosed' });
}

beforeAll(async () => {
  t = await createTestApp();
  await importExample(t);
  await t.ctx.directory.closeAccount(CLOSED_ID, { type: 'operator', id: 'test' });
});
afterAll(() => t.close());

describe('Email API', () => {
  it('answers 400 to an app that is not approved, and discloses nothing', async () => {
    const res = await asMailer(emailUrl(ADA));
    expect(res.statusCode).toBe(400);
    expect(res.json().errorType).toBe('EMAIL_API_NOT_APPROVED');
    expect((await asMailer(bulkUrl([ADA]))).statusCode).toBe(400);
    expect(await disclosures()).toEqual([]);
  });

  it('is opened by an approved access request, which is audited', async () => {
    await approveForEmailApi(t, 'com.vendor.mailer');
    const res = await t.app.inject({
      method: 'GET',
      url: '/admin/apps/com.vendor.mailer',
      headers: { authorization: await adminClient(t) },
    });
    expect(res.json().emailApiApproved).toBe(true);
    const [entry] = await listAuditEvents(t.ctx.database.db, { action: 'access.auto-approved' });
    expect(entry).toMatchObject({ actor_type: 'system', app_key: 'com.vendor.mailer' });
  });

  it('returns a private email to an approved app and records the disclosure first', async () => {
    const installation = await t.ctx.database.db
      .selectFrom('installations')
      .select('id')
      .where('client_key', '=', 'mailer-acme')
      .executeTakeFirstOrThrow();
    const res = await asMailer(emailUrl(ADA), { sub: ACTIVE_ID });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ accountId: ADA, email: 'ada@acme.test' });
    const [entry] = await disclosures();
    expect(entry).toMatchObject({
      actor_type: 'app',
      actor_id: 'com.vendor.mailer',
      app_key: 'com.vendor.mailer',
      installation_id: installation.id,
      account_id: ADA,
    });
    expect(JSON.parse(entry?.details ?? '{}')).toEqual({
      endpoint: 'GET /rest/api/3/user/email',
      via: 'jwt',
      actingAccountId: ACTIVE_ID,
    });
    // Ids only: the disclosed address itself is never in the audit log.
    expect(JSON.stringify(entry)).not.toContain('@');
  });

  it('answers 404 for unknown, foreign and closed accounts, and records nothing', async () => {
    const before = (await disclosures()).length;
    for (const id of ['no-such-account', GINA, CLOSED_ID])
      expect((await asMailer(emailUrl(id))).statusCode).toBe(404);
    expect((await disclosures()).length).toBe(before);
  });

  it('bulk returns the available addresses only, one audit entry each, also by OAuth', async () => {
    const before = (await disclosures()).length;
    const token = await oauthToken(t, 'mailer', SECRETS.mailerClient);
    const res = await getWithBearer(t, token, bulkUrl([ADA, GINA, CLOSED_ID, ACTIVE_ID, 'no-such-account']));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual([
      { accountId: ADA, email: 'ada@acme.test' },
      { accountId: ACTIVE_ID, email: 'grace@acme.test' },
    ]);
    const added = (await disclosures()).slice(before);
    expect(added.map((e) => e.account_id)).toEqual([ADA, ACTIVE_ID]);
    for (const e of added) {
      expect(JSON.parse(e.details)).toEqual({
        endpoint: 'GET /rest/api/3/user/email/bulk',
        via: 'oauth',
        oauthClientId: 'mailer',
      });
      expect(e.installation_id).not.toBeNull();
    }
  });

  it('gives no email to an unapproved app even when the user made it public to the user API', async () => {
    const res = await getAsInstallation(t, 'ts-acme-1', SECRETS.tsAcme, emailUrl(ADA));
    expect(res.statusCode).toBe(400);
  });

  it('keeps the audit log a valid hash chain under concurrent disclosures', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => asMailer(emailUrl(i % 2 ? ADA : ACTIVE_ID))),
    );
    expect(results.every((r) => r.statusCode === 200)).toBe(true);
    const rows = await listAuditEvents(t.ctx.database.db);
    let prev = GENESIS_HASH;
    for (const row of rows) {
      const { id: _id, hash, ...covered } = row;
      expect(row.prev_hash).toBe(prev);
      expect(hashOf(covered)).toBe(hash);
      prev = hash;
    }
    expect(rows.filter((r) => r.action === 'email.disclosed').length).toBeGreaterThanOrEqual(23);
  });

  it('stops when the approval is revoked', async () => {
    await t.ctx.access.revoke('com.vendor.mailer', 'audit finding', { type: 'operator', id: 'test' });
    expect((await asMailer(emailUrl(ADA))).statusCode).toBe(400);
  });
});
