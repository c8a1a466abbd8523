import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAuditEvents } from '../../src/audit/audit.repository.js';
import { listAccountEvents } from '../../src/directory/account.repository.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import {
  ADA,
  adminClient,
  exampleDirectory,
  getAsInstallation,
  importExample,
  SECRETS,
  userUrl,
} from '../helpers/directory.js';

let t: TestApp;
let admin: string;

beforeAll(async () => {
  t = await createTestApp();
  await importExample(t);
  admin = await adminClient(t);
});
afterAll(() => t.close());

describe('closing an account', () => {
  it('erases the profile PD, keeps the id and the closure record, and records the event', async () => {
    const before = await t.ctx.directory.getAccount(ADA);
    const res = await t.app.inject({
      method: 'POST',
      url: `/admin/accounts/${ADA}/close`,
      headers: { authorization: admin },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ accountId: ADA, alreadyClosed: false });
    const row = await t.ctx.database.db
      .selectFrom('accounts')
      .selectAll()
      .where('account_id', '=', ADA)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      status: 'closed',
      closed_at: res.json().closedAt,
      email: null,
      name: null,
      nickname: null,
      avatar_url: null,
      job_title: null,
      department: null,
      organization_id: null,
      location: null,
      time_zone: null,
      locale: null,
    });
    expect(row.pd_updated_at > before.pdUpdatedAt).toBe(true);
    const events = await listAccountEvents(t.ctx.database.db, ADA);
    expect(events.at(-1)).toMatchObject({ type: 'account.closed', at: res.json().closedAt });
    const [audit] = await listAuditEvents(t.ctx.database.db, { action: 'account.closed' });
    expect(audit).toMatchObject({ account_id: ADA, actor_type: 'api-client' });
  });

  it('is idempotent', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: `/admin/accounts/${ADA}/close`,
      headers: { authorization: admin },
    });
    expect(res.json().alreadyClosed).toBe(true);
    expect(
      (await listAccountEvents(t.ctx.database.db, ADA)).filter((e) => e.type === 'account.closed'),
    ).toHaveLength(1);
  });

  it('renders as "Former user" to apps and to the admin API shows no PD', async () => {
    const user = await getAsInstallation(t, 'ts-acme-1', SECRETS.tsAcme, userUrl(ADA));
    expect(user.json()).toMatchObject({ displayName: 'Former user', active: false });
    const view = await t.app.inject({
      method: 'GET',
      url: `/admin/accounts/${ADA}`,
      headers: { authorization: admin },
    });
    expect(view.json()).toMatchObject({ active: false, profile: {} });
  });

  it('refuses to re-import PD onto a closed account', async () => {
    await expect(importExample(t, exampleDirectory())).rejects.toThrow(/closed/);
  });

  it.each([
    ['an unknown account', 'nobody', 404],
    ['an invalid id', 'a%20b', 400],
  ])('answers for %s with %i', async (_name, id, status) => {
    const res = await t.app.inject({
      method: 'POST',
      url: `/admin/accounts/${id}/close`,
      headers: { authorization: admin },
    });
    expect(res.statusCode).toBe(status);
  });
});
