import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAuditEvents } from '../../src/audit/audit.repository.js';
import { countPendingRequests } from '../../src/consent/consent.repository.js';
import { APPLY_LOCK, applyPendingConsents } from '../../src/consent/consent-applier.js';
import { openDatabase } from '../../src/db/dialect.js';
import { consentClient, createTestApp, GMOI_TEXT, type TestApp } from '../helpers/app.js';
import { testEngine } from '../helpers/database.js';
import { deferred } from '../helpers/wait.js';

/**
 * Two servers on one database each run a worker that applies the consent inbox. One applies
 * at a time: on PostgreSQL the other gives up at once and polls again (rather than splitting
 * the batch, or queueing behind the first for the audit chain); on SQLite the one writer lock
 * makes it wait for its turn. Either way every request is applied once.
 */
let t: TestApp;
let authorization: string;

beforeAll(async () => {
  // No background applier: the test decides who applies when.
  t = await createTestApp({ CUSTOS_IN_PROCESS_WORKER: 'false' });
  ({ authorization } = await consentClient(t));
});
afterAll(() => t.close());

async function post(email: string, app: TestApp = t, auth = authorization): Promise<void> {
  const res = await app.app.inject({
    method: 'POST',
    url: '/consent-hub/consent',
    headers: { authorization: auth },
    payload: {
      email,
      locale: 'DE',
      consents: [{ key: 'generalMarketingOptIn', granted: true, displayedText: GMOI_TEXT }],
    },
  });
  expect(res.statusCode).toBe(202);
}

const changes = async () => (await listAuditEvents(t.ctx.database.db, { action: 'consent.changed' })).length;

/**
 * The other server: its own connections, inside its apply transaction until released. Its
 * batch is empty: what it would apply is the test's to decide.
 */
async function otherServerApplying() {
  const other = openDatabase(t.database.url);
  const released = deferred();
  const held = deferred();
  const turn = other.exclusiveTransaction(
    APPLY_LOCK,
    async () => {
      held.resolve();
      await released.promise;
      return 'other';
    },
    { durable: false, maxWaitMs: Number.POSITIVE_INFINITY },
  );
  await held.promise;
  let ended: Promise<string | undefined> | undefined;
  /** Ends the other's transaction, then its connections (once, however often called). */
  const end = () => {
    released.resolve();
    ended ??= turn.finally(() => other.close());
    return ended;
  };
  return { end };
}

/** Whether `promise` is still pending after `ms`. */
const stillPendingAfter = (promise: Promise<unknown>, ms: number) =>
  Promise.race([promise.then(() => false), sleep(ms).then(() => true)]);

describe('two appliers on one database', () => {
  it("while another process's applier holds the turn, this one does not split its batch", async () => {
    await post('twin.one@example.org');
    await post('twin.two@example.org');
    const other = await otherServerApplying();
    try {
      const mine = applyPendingConsents(t.ctx.database, t.ctx.audit, t.ctx.receipts);
      if (testEngine === 'postgres') {
        // Answered while the other still holds the turn, having applied nothing.
        expect(await mine).toEqual({ applied: 0, lagsMs: [], elsewhere: true });
        expect(await countPendingRequests(t.ctx.database.db)).toBe(2);
        expect(await other.end()).toBe('other');
        expect(await applyPendingConsents(t.ctx.database, t.ctx.audit, t.ctx.receipts)).toMatchObject({
          applied: 2,
        });
      } else {
        // The one writer lock: it waits for the other to commit, then applies both.
        expect(await stillPendingAfter(mine, 500)).toBe(true);
        expect(await other.end()).toBe('other');
        expect(await mine).toMatchObject({ applied: 2 });
      }
    } finally {
      await other.end();
    }
    expect(await countPendingRequests(t.ctx.database.db)).toBe(0);
    // Each request once: one audit entry per consent, nothing applied twice.
    expect(await changes()).toBe(2);
  });

  it("a column another process's migration adds to the inbox does not fail the next claim", async () => {
    // One pooled connection, so that the claim prepared by the first batch is the one the
    // second batch runs, after the table has changed (a rolling upgrade).
    const one = await createTestApp({ CUSTOS_IN_PROCESS_WORKER: 'false', CUSTOS_PG_POOL_SIZE: '1' });
    try {
      const client = await consentClient(one);
      const apply = () => applyPendingConsents(one.ctx.database, one.ctx.audit, one.ctx.receipts);
      await post('upgrade.one@example.org', one, client.authorization);
      expect(await apply()).toMatchObject({ applied: 1 });
      await sql`alter table consent_requests add column added_later text`.execute(one.ctx.database.db);
      await post('upgrade.two@example.org', one, client.authorization);
      expect(await apply()).toMatchObject({ applied: 1 });
      expect(await countPendingRequests(one.ctx.database.db)).toBe(0);
    } finally {
      await one.close();
    }
  });

  it('a worker told to drain (as when its server stops) waits for the other and applies what is left', async () => {
    await post('twin.three@example.org');
    const before = await changes();
    const other = await otherServerApplying();
    try {
      const drained = t.ctx.worker.drain();
      expect(await stillPendingAfter(drained, 500)).toBe(true);
      expect(await countPendingRequests(t.ctx.database.db)).toBe(1);
      expect(await other.end()).toBe('other');
      await drained;
    } finally {
      await other.end();
    }
    expect(await countPendingRequests(t.ctx.database.db)).toBe(0);
    expect(await changes()).toBe(before + 1);
  });
});
