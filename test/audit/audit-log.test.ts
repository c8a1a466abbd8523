import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAuditEvents } from '../../src/audit/audit.repository.js';
import { GENESIS_HASH, hashOf } from '../../src/audit/audit.service.js';
import { verifyAuditChain } from '../../src/audit/audit.verify.js';
import { accessRequest } from '../helpers/access.js';
import { consentClient, createTestApp, GMOI_TEXT, type TestApp, waitForApplied } from '../helpers/app.js';
import { ADA, adminClient, importExample, OPERATOR } from '../helpers/directory.js';
import { runCustos } from '../helpers/process.js';

let t: TestApp;
let admin: string;
let env: Record<string, string>;

beforeAll(async () => {
  t = await createTestApp({ CUSTOS_WORKER_POLL_MS: '10' });
  env = { DATABASE_URL: t.database.url, CUSTOS_SECRET_KEY: t.ctx.config.secretKey as string };
  await importExample(t);
  admin = await adminClient(t);
});
afterAll(() => t.close());

const query = (qs: string) =>
  t.app.inject({ method: 'GET', url: `/admin/audit-events${qs}`, headers: { authorization: admin } });
const rows = () => listAuditEvents(t.ctx.database.db);
const setRow = (id: number, changes: Record<string, string | Buffer | null>) =>
  t.ctx.database.db.updateTable('audit_events').set(changes).where('id', '=', id).execute();

describe('what the audit log records', () => {
  it('records each applied consent change by request and key, never by email', async () => {
    const { authorization } = await consentClient(t, 'crm@example.com');
    const res = await t.app.inject({
      method: 'POST',
      url: '/consent-hub/consent',
      headers: { authorization },
      payload: {
        email: 'someone@example.com',
        locale: 'US',
        consents: [{ key: 'generalMarketingOptIn', granted: true, displayedText: GMOI_TEXT }],
      },
    });
    expect(res.statusCode).toBe(202);
    await waitForApplied(t);
    const entries = await listAuditEvents(t.ctx.database.db, { action: 'consent.changed' });
    expect(entries).toHaveLength(1);
    expect(entries[0]?.actor_type).toBe('api-client');
    expect(JSON.parse(entries[0]?.details ?? '{}')).toEqual({
      requestSeq: expect.any(Number),
      consentKey: 'generalMarketingOptIn',
      granted: true,
    });
    expect(JSON.stringify(entries)).not.toContain('@');
  });

  it('records an admin reading an account and closing it', async () => {
    const viewed = await t.app.inject({
      method: 'GET',
      url: `/admin/accounts/${ADA}`,
      headers: { authorization: admin },
    });
    expect(viewed.statusCode).toBe(200);
    const closed = await t.app.inject({
      method: 'POST',
      url: `/admin/accounts/${ADA}/close`,
      headers: { authorization: admin },
    });
    expect(closed.statusCode).toBe(200);
    const actions = (await listAuditEvents(t.ctx.database.db, { accountId: ADA })).map((e) => e.action);
    expect(actions).toEqual(['admin.account-viewed', 'account.closed']);
  });

  it('records operator commands that change things', async () => {
    const created = await runCustos(
      ['token', 'create', '--email', 'ops@operator.test', '--scope', 'admin:custos'],
      env,
    );
    expect(created.code).toBe(0);
    const actions = (await rows()).map((e) => [e.action, e.actor_type]);
    expect(actions).toContainEqual(['admin.token-created', 'operator']);
    expect(JSON.stringify(await rows())).not.toContain('ops@operator.test');
  });
});

describe('GET /admin/audit-events', () => {
  it('filters by app, account, action and time, and pages by cursor', async () => {
    await t.ctx.access.submit(accessRequest('com.vendor.mailer'), OPERATOR);
    const byApp = (await query('?app=com.vendor.mailer')).json();
    expect(byApp.values.map((e: { action: string }) => e.action)).toEqual([
      'access.submitted',
      'access.auto-approved',
    ]);
    expect((await query(`?account=${ADA}&action=account.closed`)).json().values).toHaveLength(1);
    expect((await query('?from=2999-01-01T00:00:00Z')).json().values).toEqual([]);
    expect((await query('?to=2000-01-01T00:00:00Z')).json().values).toEqual([]);

    const all: number[] = [];
    let cursor = '';
    for (;;) {
      const page = (await query(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`)).json();
      all.push(...page.values.map((e: { id: number }) => e.id));
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    expect(all).toEqual((await rows()).map((e) => Number(e.id)));
  });

  it('refuses a malformed time and an unauthenticated caller', async () => {
    expect((await query('?from=yesterday')).statusCode).toBe(400);
    expect((await t.app.inject({ method: 'GET', url: '/admin/audit-events' })).statusCode).toBe(401);
  });
});

describe('verification of the hash chain', () => {
  it('the entries form a chain from the genesis hash that a third party can recompute', async () => {
    let prev = GENESIS_HASH;
    for (const { id: _id, hash, ...fields } of await rows()) {
      expect(fields.prev_hash).toBe(prev);
      expect(hashOf(fields)).toBe(hash);
      prev = hash;
    }
  });

  it('`custos audit verify` passes on an untouched log, and names an altered entry', async () => {
    const ok = await runCustos(['audit', 'verify', '--batch-size', '3'], env);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('Audit chain intact');

    const victim = (await rows())[1];
    const id = Number(victim?.id);
    // Someone with database access rewrites history: which app an entry was about.
    await setRow(id, { app_key: 'com.vendor.other' });
    const bad = await runCustos(['audit', 'verify', '--batch-size', '3'], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`audit chain broken at entry ${id}: hash mismatch`);
    expect(await verifyAuditChain(t.ctx.database.db, 2)).toMatchObject({
      broken: { id, problem: 'hash mismatch' },
    });
    await setRow(id, { app_key: victim?.app_key ?? null });
    expect((await verifyAuditChain(t.ctx.database.db)).broken).toBeUndefined();
  });

  it('catches a forged entry whose own hash was recomputed at the next link', async () => {
    const [, , , , fifth, sixth] = await rows();
    if (!fifth || !sixth) throw new Error('expected more entries');
    const { id: _id, hash, ...fields } = fifth;
    await setRow(Number(fifth.id), {
      actor_id: 'someone-else',
      // Stored as its bytes (docs/audit-log.md#entry-format).
      hash: Buffer.from(hashOf({ ...fields, actor_id: 'someone-else' }), 'hex'),
    });
    expect((await verifyAuditChain(t.ctx.database.db, 2)).broken).toEqual({
      id: Number(sixth.id),
      problem: 'prev_hash mismatch',
    });
    await setRow(Number(fifth.id), { actor_id: fields.actor_id, hash: Buffer.from(hash, 'hex') });
  });

  it('catches a deleted entry at the entry after it', async () => {
    const [, , third, fourth] = await rows();
    await t.ctx.database.db.deleteFrom('audit_events').where('id', '=', Number(third?.id)).execute();
    expect(await verifyAuditChain(t.ctx.database.db, 2)).toMatchObject({
      broken: { id: Number(fourth?.id), problem: 'prev_hash mismatch' },
    });
  });
});
