import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAuditEvents } from '../../src/audit/audit.repository.js';
import { AppWebhookEndpoints } from '../../src/directory/webhook-endpoints.js';
import { enqueueWebhooks } from '../../src/webhooks/webhook-dispatcher.js';
import { accessRequest } from '../helpers/access.js';
import { basic, consentClient, createTestApp, createToken, type TestApp } from '../helpers/app.js';
import { appendEntries } from '../helpers/audit.js';
import { importExample } from '../helpers/directory.js';

const TIMESHEETS = 'com.vendor.timesheets';

let t: TestApp;
let admin: string;
let adminClientId: string;
let consentAuth: string;

beforeAll(async () => {
  // No background work: requeued messages stay pending where the tests look at them.
  t = await createTestApp({ CUSTOS_IN_PROCESS_WORKER: 'false', CUSTOS_AUDIT_CHECKPOINT_MINUTES: '0' });
  await importExample(t);
  const created = await createToken(t, { email: 'privacy@operator.test', scopes: ['admin:custos'] });
  admin = basic('privacy@operator.test', created.token);
  adminClientId = created.clientId;
  consentAuth = (await consentClient(t, 'crm@example.com')).authorization;
});
afterAll(() => t.close());

const db = () => t.ctx.database.db;

function call(method: 'GET' | 'POST', url: string, payload?: unknown, authorization: string | null = admin) {
  return t.app.inject({
    method,
    url,
    headers: authorization === null ? {} : { authorization },
    ...(payload === undefined ? {} : { payload: payload as object }),
  });
}

/** Audit entries of `action` written by the admin API client of these tests. */
async function entries(action: string) {
  return (await listAuditEvents(db(), { action })).filter(
    (e) => e.actor_type === 'api-client' && e.actor_id === adminClientId,
  );
}

/**
 * Runs `fn` while no audit entry can be written (the table is renamed away), then puts the
 * table back. A change whose entry fails must fail with it: same transaction.
 */
async function withAuditLogGone<T>(fn: () => Promise<T>): Promise<T> {
  await sql`ALTER TABLE audit_events RENAME TO audit_events_away`.execute(db());
  try {
    return await fn();
  } finally {
    await sql`ALTER TABLE audit_events_away RENAME TO audit_events`.execute(db());
  }
}

async function deadMessages(appKey: string, count: number): Promise<string[]> {
  const ids = await t.ctx.database.writeTransaction((trx) =>
    enqueueWebhooks(
      trx,
      Array.from({ length: count }, (_, i) => ({ appKey, eventType: 'account.updated', payload: { n: i } })),
    ),
  );
  await db()
    .updateTable('webhook_messages')
    .set({ status: 'dead', last_error: 'gone: endpoint disabled' })
    .where('id', 'in', ids)
    .execute();
  return ids;
}

const statusOf = async (id: string) =>
  (await db().selectFrom('webhook_messages').select('status').where('id', '=', id).executeTakeFirst())
    ?.status;

/** Every admin route this layer added: the twins of the operator commands. */
const ROUTES: [method: 'GET' | 'POST', url: string, payload?: unknown][] = [
  ['GET', '/admin/api-clients'],
  ['GET', '/admin/api-tokens'],
  ['POST', '/admin/api-tokens', { email: 'x@example.com', scopes: ['admin:custos'] }],
  ['POST', '/admin/api-tokens/some-token/revoke'],
  ['GET', '/admin/consent-notices'],
  ['POST', '/admin/consent-notices', { key: 'k', version: 'v', text: 'T' }],
  ['GET', '/admin/webhook-messages'],
  ['POST', '/admin/webhook-messages/msg_x/redeliver'],
  ['POST', '/admin/webhook-messages/redeliver', { appKey: TIMESHEETS }],
  ['POST', `/admin/apps/${TIMESHEETS}/webhook/rotate-secret`],
  ['POST', `/admin/apps/${TIMESHEETS}/webhook/enable`],
  ['POST', '/admin/email-access/requests', accessRequest('com.vendor.mailer')],
  ['POST', '/admin/email-access/use-cases', { id: 'x', category: 'c', functionality: 'f', decision: 'auto' }],
  ['POST', '/admin/audit-events/verify', {}],
  ['GET', '/admin/audit-checkpoints/public-key'],
];

describe('the admin twins of the operator commands', () => {
  it.each(ROUTES)(
    '%s %s: 401 without credentials, 403 without the admin scope',
    async (method, url, payload) => {
      const anonymous = await call(method, url, payload, null);
      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.headers['www-authenticate']).toBe('Basic realm="custos"');
      const forbidden = await call(method, url, payload, consentAuth);
      expect(forbidden.statusCode).toBe(403);
      expect(forbidden.json().errorMessage).toContain('admin:custos');
    },
  );

  it.each([
    ['POST', '/admin/api-tokens', { email: 'not-an-address', scopes: ['admin:custos'] }, 'email'],
    ['POST', '/admin/api-tokens', { email: 'a@example.com', scopes: ['admin:everything'] }, 'scopes.0'],
    ['POST', `/admin/api-tokens/${'x'.repeat(65)}/revoke`, undefined, 'tokenId'],
    ['POST', '/admin/consent-notices', { key: '1st', version: 'v1', text: 'T' }, 'key'],
    ['POST', '/admin/consent-notices', { key: 'k', version: 'v1', text: '   ' }, 'text'],
    ['GET', '/admin/webhook-messages?status=lost', undefined, 'status'],
    ['GET', '/admin/webhook-messages?cursor=abc', undefined, 'cursor'],
    ['POST', '/admin/webhook-messages/redeliver', {}, 'appKey'],
    ['POST', `/admin/apps/${'k'.repeat(129)}/webhook/enable`, undefined, 'key'],
    [
      'POST',
      '/admin/email-access/requests',
      { ...accessRequest('com.vendor.mailer'), termsUrl: 'ftp://x' },
      'termsUrl',
    ],
    [
      'POST',
      '/admin/email-access/use-cases',
      { id: 'Bad Id', category: 'c', functionality: 'f', decision: 'auto' },
      'id',
    ],
    [
      'POST',
      '/admin/email-access/use-cases',
      { id: 'ok', category: 'c', functionality: 'f', decision: 'maybe' },
      'decision',
    ],
    ['POST', '/admin/audit-events/verify', { limit: 0 }, 'limit'],
    ['POST', '/admin/audit-events/verify', { checkpoints: ['not.a.jws'] }, 'checkpoints.0'],
  ] as const)('%s %s: 400 naming the field (case %#)', async (method, url, payload, field) => {
    const res = await call(method, url, payload);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json()).toMatchObject({ errorType: 'VALIDATION_FAILED', field });
  });
});

describe('each change commits with its audit entry, or not at all', () => {
  it('POST /admin/api-tokens: the token is shown once, works, and shows in the lists with its scopes', async () => {
    const body = { email: 'Reports@Example.com', scopes: ['manage:consent-hub-consent'], label: 'crm' };
    const refused = await withAuditLogGone(() => call('POST', '/admin/api-tokens', body));
    expect(refused.statusCode).toBe(500);
    expect(
      await db().selectFrom('api_clients').selectAll().where('email', '=', 'reports@example.com').execute(),
    ).toEqual([]);

    const res = await call('POST', '/admin/api-tokens', body);
    expect(res.statusCode).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const created = res.json();
    expect(created).toMatchObject({ createdClient: true, scopes: ['manage:consent-hub-consent'] });
    expect(created.token).toMatch(/^cst_/);
    expect(await entries('admin.token-created')).toEqual([
      expect.objectContaining({ details: expect.stringContaining(created.tokenId) }),
    ]);
    const works = await t.app.inject({
      method: 'POST',
      url: '/consent-hub/consent-config/get',
      headers: { authorization: basic('reports@example.com', created.token) },
      payload: {},
    });
    expect(works.statusCode).toBe(200);

    const clients = (await call('GET', '/admin/api-clients')).json().values;
    expect(clients).toContainEqual({
      id: created.clientId,
      email: 'reports@example.com',
      scopes: ['manage:consent-hub-consent'],
      activeTokens: 1,
      createdAt: expect.any(String),
    });
    const tokens = await call('GET', '/admin/api-tokens');
    expect(tokens.body).not.toContain(created.token);
    expect(tokens.json().values).toContainEqual(
      expect.objectContaining({ id: created.tokenId, label: 'crm', revokedAt: null }),
    );
  });

  it('POST /admin/api-tokens/{id}/revoke: the token stops working at once; 404 the second time', async () => {
    const { token, tokenId } = await consentClient(t, 'leaving@example.com');
    const refused = await withAuditLogGone(() => call('POST', `/admin/api-tokens/${tokenId}/revoke`));
    expect(refused.statusCode).toBe(500);
    const stored = () =>
      db().selectFrom('api_tokens').select('revoked_at').where('id', '=', tokenId).executeTakeFirst();
    expect((await stored())?.revoked_at).toBeNull();

    const res = await call('POST', `/admin/api-tokens/${tokenId}/revoke`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ tokenId, revokedAt: (await stored())?.revoked_at });
    expect(await entries('admin.token-revoked')).toHaveLength(1);
    const ask = await t.app.inject({
      method: 'POST',
      url: '/consent-hub/consent-config/get',
      headers: { authorization: basic('leaving@example.com', token) },
      payload: {},
    });
    expect(ask.statusCode).toBe(401);
    expect((await call('POST', `/admin/api-tokens/${tokenId}/revoke`)).statusCode).toBe(404);
  });

  it('POST /admin/consent-notices: a new version is listed; the same one again is 409', async () => {
    const body = { key: 'productNews', version: '2026-11', text: '  Tell me about new products.  ' };
    expect((await withAuditLogGone(() => call('POST', '/admin/consent-notices', body))).statusCode).toBe(500);
    expect(
      await db().selectFrom('consent_notices').selectAll().where('key', '=', 'productNews').execute(),
    ).toEqual([]);

    const res = await call('POST', '/admin/consent-notices', body);
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({
      key: 'productNews',
      version: '2026-11',
      text: 'Tell me about new products.',
    });
    expect(await entries('admin.notice-added')).toHaveLength(1);
    expect((await call('GET', '/admin/consent-notices')).json().values).toContainEqual(res.json());
    expect((await call('POST', '/admin/consent-notices', body)).statusCode).toBe(409);
    expect(await entries('admin.notice-added')).toHaveLength(1);
  });

  it('POST /admin/webhook-messages/{id}/redeliver: a dead message is due again; others answer 409 or 404', async () => {
    const [id] = await deadMessages(TIMESHEETS, 1);
    const url = `/admin/webhook-messages/${id}/redeliver`;
    expect((await withAuditLogGone(() => call('POST', url))).statusCode).toBe(500);
    expect(await statusOf(id as string)).toBe('dead');

    expect((await call('POST', url)).json()).toEqual({ requeued: 1 });
    expect(await statusOf(id as string)).toBe('pending');
    expect(await entries('admin.webhooks-requeued')).toEqual([
      expect.objectContaining({ app_key: TIMESHEETS, details: expect.stringContaining(id as string) }),
    ]);
    expect((await call('POST', url)).statusCode).toBe(409);
    expect((await call('POST', '/admin/webhook-messages/msg_unknown/redeliver')).statusCode).toBe(404);
  });

  it('POST /admin/webhook-messages/redeliver: every dead message of the app, listed as pending after', async () => {
    await db().deleteFrom('webhook_messages').execute();
    const ids = await deadMessages(TIMESHEETS, 3);
    const body = { appKey: TIMESHEETS };
    expect(
      (await withAuditLogGone(() => call('POST', '/admin/webhook-messages/redeliver', body))).statusCode,
    ).toBe(500);
    expect(await Promise.all(ids.map(statusOf))).toEqual(['dead', 'dead', 'dead']);

    const before = (await entries('admin.webhooks-requeued')).length;
    expect((await call('POST', '/admin/webhook-messages/redeliver', body)).json()).toEqual({ requeued: 3 });
    expect(await Promise.all(ids.map(statusOf))).toEqual(['pending', 'pending', 'pending']);
    const requeued = (await entries('admin.webhooks-requeued')).slice(before);
    expect(requeued.map((e) => JSON.parse(e.details))).toEqual([{ messageId: null, count: 3, part: 1 }]);

    const page = (
      await call('GET', `/admin/webhook-messages?app=${TIMESHEETS}&status=pending&limit=2`)
    ).json();
    expect(page.values.map((m: { id: string }) => m.id)).toEqual([ids[2], ids[1]]);
    expect(page.values[0]).not.toHaveProperty('payload');
    const rest = (
      await call('GET', `/admin/webhook-messages?app=${TIMESHEETS}&limit=2&cursor=${page.nextCursor}`)
    ).json();
    expect(rest).toEqual({ values: [expect.objectContaining({ id: ids[0] })], nextCursor: null });
  });

  it('POST /admin/apps/{key}/webhook/rotate-secret: a new secret, shown once; the old one signs during the grace', async () => {
    const secretOf = async () =>
      (
        await db()
          .selectFrom('apps')
          .select('webhook_secret_enc')
          .where('key', '=', TIMESHEETS)
          .executeTakeFirst()
      )?.webhook_secret_enc;
    const before = await secretOf();
    const url = `/admin/apps/${TIMESHEETS}/webhook/rotate-secret`;
    expect((await withAuditLogGone(() => call('POST', url))).statusCode).toBe(500);
    expect(await secretOf()).toBe(before);

    const res = await call('POST', url);
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.json().secret).toMatch(/^whsec_/);
    expect(await secretOf()).not.toBe(before);
    const found = await new AppWebhookEndpoints(t.ctx.database, t.ctx.secrets).find(TIMESHEETS);
    expect(found?.secrets).toHaveLength(2);
    expect(found?.secrets[0]).toBe(res.json().secret);
    expect((await listAuditEvents(db(), { action: 'app.webhook-secret-rotated' })).at(-1)).toMatchObject({
      actor_type: 'api-client',
      actor_id: adminClientId,
      app_key: TIMESHEETS,
    });
    expect((await call('POST', '/admin/apps/com.vendor.mailer/webhook/rotate-secret')).statusCode).toBe(409);
    expect((await call('POST', '/admin/apps/com.nobody/webhook/rotate-secret')).statusCode).toBe(404);
  });

  it('POST /admin/apps/{key}/webhook/enable: turns a disabled endpoint on; an enabled one is left alone', async () => {
    const disabledAt = async () =>
      (
        await db()
          .selectFrom('apps')
          .select('webhook_disabled_at')
          .where('key', '=', TIMESHEETS)
          .executeTakeFirst()
      )?.webhook_disabled_at;
    await db()
      .updateTable('apps')
      .set({
        webhook_disabled_at: new Date().toISOString(),
        webhook_disabled_reason: 'endpoint answered 410 Gone',
      })
      .where('key', '=', TIMESHEETS)
      .execute();
    const url = `/admin/apps/${TIMESHEETS}/webhook/enable`;
    expect((await withAuditLogGone(() => call('POST', url))).statusCode).toBe(500);
    expect(await disabledAt()).not.toBeNull();

    expect((await call('POST', url)).json()).toEqual({ key: TIMESHEETS, wasDisabled: true });
    expect(await disabledAt()).toBeNull();
    expect(await entries('admin.webhook-enabled')).toHaveLength(1);
    expect((await call('POST', url)).json()).toEqual({ key: TIMESHEETS, wasDisabled: false });
    expect(await entries('admin.webhook-enabled')).toHaveLength(1);
  });

  it('POST /admin/email-access/requests: filed for the app, decided as the app would be, the operator on record', async () => {
    const body = accessRequest('com.vendor.mailer', { useCases: ['other'] });
    const requests = () => db().selectFrom('access_requests').select(['id', 'submitted_by']).execute();
    expect(
      (await withAuditLogGone(() => call('POST', '/admin/email-access/requests', body))).statusCode,
    ).toBe(500);
    expect(await requests()).toEqual([]);

    const res = await call('POST', '/admin/email-access/requests', body);
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({ id: expect.stringMatching(/^ear_/), status: 'in-review' });
    expect(await requests()).toEqual([{ id: res.json().id, submitted_by: `api-client:${adminClientId}` }]);
    expect(await entries('access.submitted')).toHaveLength(1);
    // One request of an app in review at a time.
    expect((await call('POST', '/admin/email-access/requests', body)).statusCode).toBe(409);
    expect((await call('POST', '/admin/email-access/requests', accessRequest('com.nobody'))).statusCode).toBe(
      404,
    );
  });

  it('POST /admin/email-access/use-cases: a new use case joins the catalogue; 409 for the same id', async () => {
    const body = {
      id: 'incident-paging',
      category: 'transactional email',
      functionality: 'Page the on-call user',
      decision: 'auto',
    };
    const stored = () =>
      db().selectFrom('access_use_cases').selectAll().where('id', '=', 'incident-paging').execute();
    expect(
      (await withAuditLogGone(() => call('POST', '/admin/email-access/use-cases', body))).statusCode,
    ).toBe(500);
    expect(await stored()).toEqual([]);

    const res = await call('POST', '/admin/email-access/use-cases', body);
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual(body);
    expect(await entries('access.use-case-added')).toHaveLength(1);
    expect((await call('GET', '/admin/email-access/use-cases')).json()).toContainEqual(body);
    expect((await call('POST', '/admin/email-access/use-cases', body)).statusCode).toBe(409);
  });
});

describe('audit verification and the public key', () => {
  it('verifies the chain against given checkpoints, says what the latest covers, and stops at its limit', async () => {
    await appendEntries(t, 3);
    const signed = (await call('POST', '/admin/audit-checkpoints')).json();
    await appendEntries(t, 2);
    const total = (await listAuditEvents(db())).length;

    const res = await call('POST', '/admin/audit-events/verify', { checkpoints: [signed.jws] });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      intact: true,
      complete: true,
      checked: total,
      checkpointsMatched: 1,
      broken: null,
      mismatch: null,
      latestCheckpoint: { id: signed.id, count: signed.count },
    });
    expect(total - signed.count).toBe(2);

    const bounded = (await call('POST', '/admin/audit-events/verify', { limit: 2 })).json();
    expect(bounded).toMatchObject({ intact: true, complete: false, checked: 2 });
    const exact = (await call('POST', '/admin/audit-events/verify', { limit: total })).json();
    expect(exact).toMatchObject({ complete: true, checked: total });

    const [, second] = await listAuditEvents(db());
    await db()
      .updateTable('audit_events')
      .set({ app_key: 'com.forged' })
      .where('id', '=', Number(second?.id))
      .execute();
    try {
      const broken = (await call('POST', '/admin/audit-events/verify', {})).json();
      expect(broken).toMatchObject({
        intact: false,
        broken: { id: Number(second?.id), problem: 'hash mismatch' },
      });
    } finally {
      await db()
        .updateTable('audit_events')
        .set({ app_key: second?.app_key ?? null })
        .where('id', '=', Number(second?.id))
        .execute();
    }
  });

  it('GET /admin/audit-checkpoints/public-key: the key that verifies the checkpoints, as a JWK Set and a PEM', async () => {
    const res = await call('GET', '/admin/audit-checkpoints/public-key');
    expect(res.statusCode).toBe(200);
    const { keys, pem } = res.json();
    expect(keys).toEqual([expect.objectContaining({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' })]);
    expect(keys[0]).not.toHaveProperty('d');
    expect(pem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    const [checkpoint] = (await call('GET', '/admin/audit-checkpoints?limit=1')).json().values;
    expect(checkpoint.kid).toBe(keys[0].kid);
  });
});
