import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/audit.service.js';
import type { Database } from '../../src/db/dialect.js';
import { openDatabase } from '../../src/db/dialect.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { backoffDelayMs } from '../../src/shared/backoff.js';
import { leaseDueMessages, listMessages } from '../../src/webhooks/webhook.repository.js';
import {
  enqueueWebhooks,
  parseRetryAfter,
  WebhookDispatcher,
  type WebhookEndpoint,
  type WebhookEndpoints,
} from '../../src/webhooks/webhook-dispatcher.js';
import { WebhookOutbox } from '../../src/webhooks/webhook-outbox.service.js';
import { assertDeliverableUrl, type Resolver } from '../../src/webhooks/webhook-url.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startReceiver } from '../helpers/webhook-receiver.js';

const SECRET = `whsec_${Buffer.from('a-test-secret-of-32-bytes-long!!').toString('base64')}`;

let testDb: TestDatabase;
let database: Database;

/** The directory's side of delivery, for these tests: endpoints in a map. */
class EndpointTable implements WebhookEndpoints {
  readonly endpoints = new Map<string, WebhookEndpoint>();
  async find(appKey: string) {
    return this.endpoints.get(appKey);
  }
  async disable(appKey: string) {
    const endpoint = this.endpoints.get(appKey);
    if (endpoint) endpoint.disabled = true;
  }
}

function dispatcher(
  endpoints: WebhookEndpoints,
  options: Partial<ConstructorParameters<typeof WebhookDispatcher>[2]> = {},
) {
  return new WebhookDispatcher(
    database,
    endpoints,
    { allowPrivate: true, timeoutMs: 300, maxAgeMs: 60_000, concurrency: 16, baseDelayMs: 20, ...options },
    pino({ level: 'silent' }),
  );
}

async function send(appKey: string, count: number, orderingKey?: string) {
  return database.writeTransaction((trx) =>
    enqueueWebhooks(
      trx,
      Array.from({ length: count }, (_, i) => ({
        appKey,
        eventType: 'account.closed',
        payload: { accountId: `acc-${i}`, n: i },
        orderingKey,
      })),
    ),
  );
}

/** Runs the dispatcher until `done` or the deadline. */
async function drive(d: WebhookDispatcher, done: () => boolean, ms = 8000) {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) {
    await d.runOnce();
    await new Promise((r) => setTimeout(r, 10));
  }
}

beforeAll(async () => {
  testDb = await createTestDatabase();
  database = openDatabase(testDb.url);
  await migrateToLatest(database.db);
});
afterAll(async () => {
  await database.close();
  await testDb.drop();
});

describe('webhook delivery', () => {
  it('delivers each message signed per Standard Webhooks, verified by the standardwebhooks package', async () => {
    const receiver = await startReceiver(SECRET);
    const endpoints = new EndpointTable();
    endpoints.endpoints.set('app.signed', { url: receiver.url, secrets: [SECRET], disabled: false });
    try {
      const ids = await send('app.signed', 3);
      await drive(dispatcher(endpoints), () => receiver.unique.size === 3);
      expect(receiver.arrivals.every((a) => a.verified)).toBe(true);
      expect([...receiver.unique.keys()].sort()).toEqual([...ids].sort());
      const rows = await listMessages(database.db, { appKey: 'app.signed', limit: 10 });
      expect(rows.every((r) => r.status === 'delivered' && r.delivered_at !== null && r.attempts === 1)).toBe(
        true,
      );
    } finally {
      await receiver.close();
    }
  });

  it('signs with every active secret during a rotation, so a receiver with either verifies', async () => {
    const next = `whsec_${Buffer.from('the-next-secret-also-32-bytes!!!').toString('base64')}`;
    const receiver = await startReceiver(next);
    const endpoints = new EndpointTable();
    endpoints.endpoints.set('app.rotating', { url: receiver.url, secrets: [SECRET, next], disabled: false });
    try {
      await send('app.rotating', 1);
      await drive(dispatcher(endpoints), () => receiver.unique.size === 1);
      expect(receiver.arrivals[0]?.verified).toBe(true);
    } finally {
      await receiver.close();
    }
  });

  it('retries a receiver that fails, times out and answers 429 with Retry-After: every event arrives, none is lost', async () => {
    const script = (n: number) => {
      if (n <= 4) return { status: 500 };
      if (n <= 6) return 'hang' as const;
      if (n <= 8) return { status: 429, headers: { 'retry-after': '1' } };
      return { status: 200 };
    };
    const receiver = await startReceiver(SECRET, script);
    const endpoints = new EndpointTable();
    endpoints.endpoints.set('app.flaky', { url: receiver.url, secrets: [SECRET], disabled: false });
    try {
      const ids = await send('app.flaky', 5);
      await drive(dispatcher(endpoints), () => receiver.unique.size === 5, 15_000);
      expect([...receiver.unique.keys()].sort()).toEqual([...ids].sort());
      // Retries reuse the id: the receiver saw duplicates only of ids it had not acknowledged.
      expect(new Set(receiver.arrivals.map((a) => a.id)).size).toBe(5);
      const rows = await listMessages(database.db, { appKey: 'app.flaky', limit: 10 });
      expect(rows.every((r) => r.status === 'delivered')).toBe(true);
      expect(rows.some((r) => r.attempts > 1)).toBe(true);
    } finally {
      await receiver.close();
    }
  });

  it('delivers messages of one ordering key one at a time, in order', async () => {
    let first = true;
    const receiver = await startReceiver(SECRET, () => {
      // The first delivery fails; nothing behind it may overtake it.
      if (first) {
        first = false;
        return { status: 503 };
      }
      return { status: 200 };
    });
    const endpoints = new EndpointTable();
    endpoints.endpoints.set('app.ordered', { url: receiver.url, secrets: [SECRET], disabled: false });
    try {
      const ids = await send('app.ordered', 4, 'account-1');
      await drive(dispatcher(endpoints), () => receiver.unique.size === 4);
      expect(receiver.arrivals.map((a) => a.id)).toEqual([ids[0], ids[0], ids[1], ids[2], ids[3]]);
    } finally {
      await receiver.close();
    }
  });

  it('disables an endpoint that answers 410 and dead-letters its messages; redeliver requeues them', async () => {
    let gone = true;
    const receiver = await startReceiver(SECRET, () => ({ status: gone ? 410 : 200 }));
    const endpoints = new EndpointTable();
    endpoints.endpoints.set('app.gone', { url: receiver.url, secrets: [SECRET], disabled: false });
    try {
      await send('app.gone', 2, 'k');
      const d = dispatcher(endpoints);
      await drive(d, () => endpoints.endpoints.get('app.gone')?.disabled === true);
      // The message behind it is not sent to a disabled endpoint: it becomes a dead letter too.
      for (let i = 0; i < 3; i++) await d.runOnce();
      const dead = await listMessages(database.db, { appKey: 'app.gone', status: 'dead', limit: 10 });
      expect(dead).toHaveLength(2);
      expect(receiver.arrivals).toHaveLength(1);

      gone = false;
      const endpoint = endpoints.endpoints.get('app.gone');
      if (endpoint) endpoint.disabled = false;
      const outbox = new WebhookOutbox(database, new AuditLog(database));
      expect(await outbox.redeliverApp('app.gone', { type: 'operator', id: 'test' })).toEqual({
        requeued: 2,
      });
      await drive(d, () => receiver.unique.size === 2);
      expect(receiver.unique.size).toBe(2);
    } finally {
      await receiver.close();
    }
  });

  it('gives up after the maximum age and keeps the message as a dead letter', async () => {
    const receiver = await startReceiver(SECRET, () => ({ status: 500 }));
    const endpoints = new EndpointTable();
    endpoints.endpoints.set('app.down', { url: receiver.url, secrets: [SECRET], disabled: false });
    try {
      await send('app.down', 1);
      const d = dispatcher(endpoints, { maxAgeMs: 200 });
      const dead = async () =>
        (await listMessages(database.db, { appKey: 'app.down', status: 'dead', limit: 1 })).length;
      const deadline = Date.now() + 5000;
      while ((await dead()) === 0 && Date.now() < deadline) {
        await d.runOnce();
        await new Promise((r) => setTimeout(r, 20));
      }
      const [row] = await listMessages(database.db, { appKey: 'app.down', limit: 1 });
      expect(row?.status).toBe('dead');
      expect(row?.last_status).toBe(500);
      expect(row?.attempts).toBeGreaterThan(1);
    } finally {
      await receiver.close();
    }
  });

  it('loses nothing when a worker dies mid-delivery: its lease runs out and another worker delivers', async () => {
    const receiver = await startReceiver(SECRET);
    const endpoints = new EndpointTable();
    endpoints.endpoints.set('app.lease', { url: receiver.url, secrets: [SECRET], disabled: false });
    try {
      const [id] = await send('app.lease', 1);
      // A worker takes the message and dies before recording anything.
      const now = Date.now();
      const taken = await leaseDueMessages(
        database,
        new Date(now).toISOString(),
        new Date(now + 150).toISOString(),
        10,
      );
      expect(taken.map((m) => m.id)).toContain(id);
      const d = dispatcher(endpoints);
      await d.runOnce();
      expect(receiver.arrivals).toHaveLength(0); // still leased
      await new Promise((r) => setTimeout(r, 200));
      await drive(d, () => receiver.unique.size === 1);
      expect([...receiver.unique.keys()]).toEqual([id]);
    } finally {
      await receiver.close();
    }
  });

  it('refuses to deliver to a private address unless the operator allows it', async () => {
    const receiver = await startReceiver(SECRET);
    const endpoints = new EndpointTable();
    endpoints.endpoints.set('app.private', { url: receiver.url, secrets: [SECRET], disabled: false });
    try {
      await send('app.private', 1);
      await dispatcher(endpoints, { allowPrivate: false }).runOnce();
      const [row] = await listMessages(database.db, { appKey: 'app.private', limit: 1 });
      expect(row?.status).toBe('pending');
      expect(row?.last_error).toBe('ECUSTOSPRIVATE');
      expect(receiver.arrivals).toHaveLength(0);
    } finally {
      await receiver.close();
    }
  });

  it('refuses at connection time a name that resolves to a non-public address, however it is spelt', async () => {
    const receiver = await startReceiver(SECRET);
    const port = new URL(receiver.url).port;
    // The name is answered from a table so the test decides what DNS says at delivery time.
    let answer = '127.0.0.1';
    const resolve: Resolver = async () => [{ address: answer, family: answer.includes(':') ? 6 : 4 }];
    const endpoints = new EndpointTable();
    const deliverTo = async (appKey: string, url: string, allowPrivate: boolean) => {
      endpoints.endpoints.set(appKey, { url, secrets: [SECRET], disabled: false });
      const [id] = await send(appKey, 1);
      await dispatcher(endpoints, { allowPrivate, resolve }).runOnce();
      const [row] = await listMessages(database.db, { appKey, limit: 1 });
      return { id, row };
    };
    try {
      for (const [i, address] of [
        '127.0.0.1',
        '::127.0.0.1',
        '::ffff:127.0.0.1',
        '64:ff9b::127.0.0.1',
        '::',
        '2002:7f00:1::1',
      ].entries()) {
        answer = address;
        const { row } = await deliverTo(`app.dns.${i}`, `http://hooks.vendor.example:${port}/hooks`, false);
        expect({ address, status: row?.status, error: row?.last_error }).toEqual({
          address,
          status: 'pending',
          error: 'ECUSTOSPRIVATE',
        });
      }
      for (const [i, url] of [
        `http://localhost.:${port}/hooks`,
        `http://receiver.localhost:${port}/hooks`,
        `http://[::127.0.0.1]:${port}/hooks`,
        `http://2130706433:${port}/hooks`,
      ].entries()) {
        const { row } = await deliverTo(`app.literal.${i}`, url, false);
        expect({ url, error: row?.last_error }).toEqual({ url, error: 'ECUSTOSPRIVATE' });
      }
      expect(receiver.arrivals).toHaveLength(0);

      // The same name, allowed, reaches the receiver: the table is what delivery resolved.
      answer = '127.0.0.1';
      const allowed = await deliverTo('app.dns.allowed', `http://hooks.vendor.example:${port}/hooks`, true);
      expect(allowed.row?.status).toBe('delivered');
      expect(receiver.unique.has(allowed.id as string)).toBe(true);
    } finally {
      await receiver.close();
    }
  });
});

describe('webhook URL and retry rules', () => {
  it('accepts a public address, refuses other schemes and credentials, and allows private targets when told to', async () => {
    await expect(assertDeliverableUrl('https://8.8.8.8/hooks', false)).resolves.toBeInstanceOf(URL);
    await expect(assertDeliverableUrl('ftp://8.8.8.8/x', false)).rejects.toThrow(/http/);
    await expect(assertDeliverableUrl('https://user:pw@8.8.8.8/x', false)).rejects.toThrow(/credentials/);
    await expect(assertDeliverableUrl('http://127.0.0.1:9/x', true)).resolves.toBeInstanceOf(URL);
  });

  it('backs off exponentially with jitter, capped', () => {
    expect(backoffDelayMs(1, 5000, () => 0)).toBe(2500);
    expect(backoffDelayMs(1, 5000, () => 1)).toBe(5000);
    expect(backoffDelayMs(4, 5000, () => 1)).toBe(40_000);
    expect(backoffDelayMs(40, 5000, () => 1)).toBe(6 * 3_600_000);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-11-24T06:00:00Z');
    expect(parseRetryAfter('30', now)).toBe(30_000);
    expect(parseRetryAfter('Tue, 24 Nov 2026 06:02:00 GMT', now)).toBe(120_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
