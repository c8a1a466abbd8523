import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { every } from '../../src/jobs/job.model.js';
import { deviceLabel } from '../../src/sessions/device-label.js';
import { sessionJobs } from '../../src/sessions/session.jobs.js';
import { SessionService } from '../../src/sessions/session.service.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { ACTIVE_ID, ADA, GINA, importExample } from '../helpers/directory.js';
import { runJob } from '../helpers/jobs.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const START = Date.parse('2026-12-01T09:00:00.000Z');

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
  await importExample(t);
});
afterAll(() => t.close());

/** A service over the test database with its own clock, 30 min idle and 12 h absolute. */
function sessionsAt(start = START) {
  const clock = { now: start };
  const sessions = new SessionService(
    t.ctx.database,
    { idleMs: 30 * MINUTE, absoluteMs: 12 * HOUR },
    () => new Date(clock.now),
  );
  return { sessions, clock, advance: (ms: number) => (clock.now += ms) };
}

const rowOf = (id: string) =>
  t.ctx.database.db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

describe('creating a session', () => {
  it('gives a fresh random token and id every time, and stores only the token hash', async () => {
    const { sessions } = sessionsAt();
    const a = await sessions.create(ADA);
    const b = await sessions.create(ADA);
    expect(a.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.token).not.toBe(b.token);
    expect(a.id).not.toBe(b.id);
    const row = await rowOf(a.id);
    expect(JSON.stringify(row)).not.toContain(a.token);
    expect(row.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row).toMatchObject({
      account_id: ADA,
      created_at: '2026-12-01T09:00:00.000Z',
      last_seen_at: '2026-12-01T09:00:00.000Z',
      idle_timeout_s: 1800,
      idle_expires_at: '2026-12-01T09:30:00.000Z',
      expires_at: '2026-12-01T21:00:00.000Z',
      revoked_at: null,
    });
  });

  it('keeps a coarse device label, never the User-Agent', async () => {
    const { sessions } = sessionsAt();
    const ua =
      'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0 build-1234-secret-fingerprint';
    const { id } = await sessions.create(ADA, { userAgent: ua });
    const row = await rowOf(id);
    expect(row.device_label).toBe('Firefox on Linux');
    expect(JSON.stringify(row)).not.toContain('128.0');
  });

  it('refuses an account that does not exist', async () => {
    const { sessions } = sessionsAt();
    await expect(sessions.create('no-such-account')).rejects.toThrow();
  });
});

describe('device labels', () => {
  it.each([
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0',
      'Edge on Windows',
    ],
    [
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
      'Safari on macOS',
    ],
    [
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
      'Safari on iOS',
    ],
    [
      'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36',
      'Chrome on Android',
    ],
    ['curl/8.5.0', 'Unknown device'],
    [undefined, 'Unknown device'],
  ])('%s → %s', (ua, label) => {
    expect(deviceLabel(ua)).toBe(label);
  });
});

describe('authenticating a token', () => {
  it('knows the session and its account', async () => {
    const { sessions } = sessionsAt();
    const { token, id } = await sessions.create(ADA);
    expect(await sessions.authenticate(token)).toEqual({ id, accountId: ADA });
  });

  it('refuses unknown, malformed and empty tokens', async () => {
    const { sessions } = sessionsAt();
    expect(await sessions.authenticate('A'.repeat(43))).toBeUndefined();
    expect(await sessions.authenticate('not a token')).toBeUndefined();
    expect(await sessions.authenticate('')).toBeUndefined();
  });

  it('ends a session idle for the idle timeout', async () => {
    const { sessions, advance } = sessionsAt();
    const { token } = await sessions.create(ADA);
    advance(30 * MINUTE - 1000);
    expect(await sessions.authenticate(token)).toBeDefined();
    // That request was activity: the idle window starts again from it.
    advance(30 * MINUTE - 1000);
    expect(await sessions.authenticate(token)).toBeDefined();
    advance(30 * MINUTE);
    expect(await sessions.authenticate(token)).toBeUndefined();
  });

  it('ends an active session at the absolute timeout', async () => {
    const { sessions, advance } = sessionsAt();
    const { token, id } = await sessions.create(ADA);
    for (let elapsed = 0; elapsed < 12 * HOUR - 20 * MINUTE; elapsed += 20 * MINUTE) {
      advance(20 * MINUTE);
      expect(await sessions.authenticate(token)).toBeDefined();
    }
    // Activity never moves the idle end past the absolute one.
    expect((await rowOf(id)).idle_expires_at).toBe('2026-12-01T21:00:00.000Z');
    advance(20 * MINUTE);
    expect(await sessions.authenticate(token)).toBeUndefined();
  });

  it('writes last-seen at most once a minute, not on every request', async () => {
    const { sessions, advance } = sessionsAt();
    const { token, id } = await sessions.create(ADA);
    advance(10_000);
    await sessions.authenticate(token);
    advance(10_000);
    await sessions.authenticate(token);
    expect((await rowOf(id)).last_seen_at).toBe('2026-12-01T09:00:00.000Z');
    advance(45_000);
    await sessions.authenticate(token);
    const row = await rowOf(id);
    expect(row.last_seen_at).toBe('2026-12-01T09:01:05.000Z');
    expect(row.idle_expires_at).toBe('2026-12-01T09:31:05.000Z');
  });
});

describe('ending sessions', () => {
  it('ends one session on the server; a second end changes nothing', async () => {
    const { sessions } = sessionsAt();
    const { token, id } = await sessions.create(ADA);
    expect(await sessions.end(ADA, id)).toBe(true);
    expect(await sessions.authenticate(token)).toBeUndefined();
    expect((await rowOf(id)).revoked_at).toBe('2026-12-01T09:00:00.000Z');
    expect(await sessions.end(ADA, id)).toBe(false);
  });

  it("never ends another account's session", async () => {
    const { sessions } = sessionsAt();
    const { token, id } = await sessions.create(GINA);
    expect(await sessions.end(ADA, id)).toBe(false);
    await sessions.endOthers(ADA, 'none');
    await sessions.endAll(ADA);
    expect(await sessions.authenticate(token)).toEqual({ id, accountId: GINA });
  });

  it('lists the live sessions of one account, newest first, and ends all others', async () => {
    const { sessions, advance } = sessionsAt();
    const firefox = await sessions.create(ACTIVE_ID, {
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0',
    });
    advance(MINUTE);
    const old = await sessions.create(ACTIVE_ID);
    await sessions.end(ACTIVE_ID, old.id);
    advance(MINUTE);
    const phone = await sessions.create(ACTIVE_ID, {
      userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Version/17.5 Mobile Safari/604.1',
    });
    const someoneElse = await sessions.create(GINA);

    const listed = await sessions.list(ACTIVE_ID);
    expect(listed).toEqual([
      {
        id: phone.id,
        createdAt: '2026-12-01T09:02:00.000Z',
        lastSeenAt: '2026-12-01T09:02:00.000Z',
        expiresAt: '2026-12-01T21:02:00.000Z',
        device: 'Safari on iOS',
      },
      {
        id: firefox.id,
        createdAt: '2026-12-01T09:00:00.000Z',
        lastSeenAt: '2026-12-01T09:00:00.000Z',
        expiresAt: '2026-12-01T21:00:00.000Z',
        device: 'Firefox on Linux',
      },
    ]);

    expect(await sessions.endOthers(ACTIVE_ID, phone.id)).toBe(1);
    expect((await sessions.list(ACTIVE_ID)).map((s) => s.id)).toEqual([phone.id]);
    expect(await sessions.authenticate(phone.token)).toBeDefined();
    expect(await sessions.authenticate(firefox.token)).toBeUndefined();
    expect(await sessions.authenticate(someoneElse.token)).toBeDefined();

    expect(await sessions.endAll(ACTIVE_ID)).toBe(1);
    expect(await sessions.list(ACTIVE_ID)).toEqual([]);
    expect(await sessions.authenticate(phone.token)).toBeUndefined();
  });

  it('does not list sessions that timed out', async () => {
    const { sessions, advance } = sessionsAt(Date.parse('2027-01-01T00:00:00.000Z'));
    await sessions.create(GINA);
    advance(31 * MINUTE);
    expect(await sessions.list(GINA)).toEqual([]);
  });
});

describe('cleaning up', () => {
  it('deletes sessions that no longer work, in bounded batches, and keeps live ones', async () => {
    // Far in the future: every session made above has expired by then.
    const { sessions, advance } = sessionsAt(Date.parse('2030-01-01T00:00:00.000Z'));
    const live = await sessions.create(ADA);
    const revoked = await sessions.create(ADA);
    await sessions.end(ADA, revoked.id);
    const idle = await sessions.create(GINA);
    advance(10 * MINUTE);
    await sessions.authenticate(live.token);
    advance(25 * MINUTE);
    expect(await sessions.authenticate(idle.token)).toBeUndefined();

    const remaining = async () =>
      Number(
        (
          await t.ctx.database.db
            .selectFrom('sessions')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const before = await remaining();
    expect(before).toBeGreaterThan(3);
    expect(await sessions.deleteExpiredSessions(2)).toBe(2);
    expect(await remaining()).toBe(before - 2);
    while ((await sessions.deleteExpiredSessions(2)) > 0) {}
    const left = await t.ctx.database.db.selectFrom('sessions').select('id').execute();
    expect(left.map((r) => r.id)).toEqual([live.id]);
    expect(await sessions.authenticate(live.token)).toEqual({ id: live.id, accountId: ADA });
  });

  it('runs as the scheduled job sessions.expired-cleanup, a bounded number of batches per run', async () => {
    await t.ctx.database.db.deleteFrom('sessions').execute();
    const { sessions, advance } = sessionsAt(Date.parse('2031-01-01T00:00:00.000Z'));
    for (let i = 0; i < 5; i++) await sessions.create(GINA);
    advance(31 * MINUTE);
    const live = await sessions.create(ADA);
    const limits = { batchSize: 2, maxBatches: 2, pauseMs: 0 };
    const [job] = sessionJobs(sessions, { schedule: every(HOUR), limits });
    if (!job) throw new Error('expected the clean-up job');
    expect(job).toMatchObject({
      name: 'sessions.expired-cleanup',
      schedule: { description: 'every 3600 s' },
    });
    // Two batches of two: one expired session is left for the next due time.
    expect(await runJob(job)).toEqual({ deleted: 4, batches: 2, complete: false });
    expect(await runJob(job)).toEqual({ deleted: 1, batches: 1, complete: true });
    const left = await t.ctx.database.db.selectFrom('sessions').select('id').execute();
    expect(left.map((r) => r.id)).toEqual([live.id]);
  });
});
