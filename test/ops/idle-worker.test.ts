import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { applyPendingConsents } from '../../src/consent/consent-applier.js';
import { hasDueMessage, insertMessages } from '../../src/webhooks/webhook.repository.js';
import { consentClient, createTestApp, GMOI_TEXT, type TestApp } from '../helpers/app.js';

const NOW = '2026-12-02T10:00:00.000Z';
const EARLIER = '2026-12-02T09:59:00.000Z';
const LATER = '2026-12-02T10:01:00.000Z';
const MUCH_LATER = '2026-12-02T11:00:00.000Z';

/**
 * The worker polls every few tens of milliseconds for work other processes may have queued.
 * A poll that finds none must cost a read, not a write transaction: on SQLite that would take
 * the one write lock (and wait behind any writer) for nothing, and an idle server spent most
 * of its CPU on it.
 */
describe('an idle worker', () => {
  let t: TestApp;
  let authorization: string;

  beforeAll(async () => {
    // The worker is driven by the test (drain), not by its own loop.
    t = await createTestApp({ CUSTOS_IN_PROCESS_WORKER: 'false' });
    ({ authorization } = await consentClient(t));
    // Scheduled jobs fall due on the first poll: run them, so that nothing is due below.
    await t.ctx.worker.drain();
  });
  afterAll(() => t.close());

  it('polls with reads alone while there is no work, and opens a write transaction once there is', async () => {
    // The consent applier's transactions are exclusive ones, every other task's ordinary.
    const ordinary = vi.spyOn(t.ctx.database, 'writeTransaction');
    const exclusive = vi.spyOn(t.ctx.database, 'exclusiveTransaction');
    const writes = {
      count: () => ordinary.mock.calls.length + exclusive.mock.calls.length,
      clear() {
        ordinary.mockClear();
        exclusive.mockClear();
      },
    };
    try {
      // A scheduled job may fall due between two polls (an hour turning, say), and rightly
      // takes a transaction; never in three polls in a row.
      let idle = false;
      for (let poll = 0; poll < 3 && !idle; poll++) {
        writes.clear();
        await t.ctx.worker.drain();
        idle = writes.count() === 0;
      }
      expect(idle).toBe(true);

      const res = await t.app.inject({
        method: 'POST',
        url: '/consent-hub/consent',
        headers: { authorization },
        payload: {
          email: 'idle.poll@example.org',
          locale: 'DE',
          consents: [{ key: 'generalMarketingOptIn', granted: true, displayedText: GMOI_TEXT }],
        },
      });
      expect(res.statusCode).toBe(202);
      writes.clear();
      await t.ctx.worker.drain();
      expect(exclusive).toHaveBeenCalledTimes(1);
      const config = await t.app.inject({
        method: 'POST',
        url: '/consent-hub/consent-config/get',
        headers: { authorization },
        payload: { email: 'idle.poll@example.org' },
      });
      expect(config.json()).toMatchObject({ usersChoiceOnMarketingCommunicationOptIn: true });

      // Once a batch has found nothing, polls are reads again.
      writes.clear();
      await t.ctx.worker.drain();
      expect(exclusive).not.toHaveBeenCalled();
    } finally {
      ordinary.mockRestore();
      exclusive.mockRestore();
    }
  });

  it('opens the apply transaction without looking first only when told requests are likely pending', async () => {
    // The worker says so on PostgreSQL right after a batch that applied requests.
    const exclusive = vi.spyOn(t.ctx.database, 'exclusiveTransaction');
    try {
      const apply = (likelyPending: boolean) =>
        applyPendingConsents(t.ctx.database, t.ctx.audit, t.ctx.receipts, { likelyPending });
      expect(await apply(false)).toEqual({ applied: 0, lagsMs: [] });
      expect(exclusive).not.toHaveBeenCalled();
      expect(await apply(true)).toEqual({ applied: 0, lagsMs: [] });
      expect(exclusive).toHaveBeenCalledTimes(1);
    } finally {
      exclusive.mockRestore();
    }
  });

  it('sees a webhook message as due only when it is pending, its time has come and nobody holds its lease', async () => {
    const db = t.ctx.database.db;
    expect(await hasDueMessage(db, NOW)).toBe(false);
    const message = (
      id: string,
      fields: { status?: 'pending' | 'delivered'; at: string; lease?: string },
    ) => ({
      id,
      app_key: 'idle-poll-app',
      event_type: 'test',
      ordering_key: null,
      payload: '{}',
      status: fields.status ?? 'pending',
      attempts: 0,
      next_attempt_at: fields.at,
      lease_until: fields.lease ?? null,
      created_at: EARLIER,
      last_attempt_at: null,
      last_status: null,
      last_error: null,
      delivered_at: fields.status === 'delivered' ? EARLIER : null,
    });
    await insertMessages(db, [
      message('not-yet', { at: MUCH_LATER }),
      message('leased', { at: EARLIER, lease: LATER }),
      message('delivered', { status: 'delivered', at: EARLIER }),
    ]);
    expect(await hasDueMessage(db, NOW)).toBe(false);
    // A lease that ran out is due again: its worker died mid-delivery.
    expect(await hasDueMessage(db, '2026-12-02T10:02:00.000Z')).toBe(true);
    await insertMessages(db, [message('due', { at: EARLIER })]);
    expect(await hasDueMessage(db, NOW)).toBe(true);
  });
});
