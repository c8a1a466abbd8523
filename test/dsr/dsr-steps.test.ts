import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { ADA, GINA, importExample, oauthToken, SECRETS } from '../helpers/directory.js';
import { Mailbox } from '../helpers/mailbox.js';

/**
 * Custos's own steps and the watch, run by the test itself (no worker), in the orders a busy
 * queue or a second worker can produce.
 */

const PERSON = (accountId: string) => ({ type: 'account' as const, id: accountId });
const OPERATOR = { type: 'operator' as const, id: 'test' };
const DAY = 86_400_000;
let t: TestApp;
let box: Mailbox;

beforeAll(async () => {
  box = await Mailbox.start();
  t = await createTestApp({ CUSTOS_IN_PROCESS_WORKER: 'false', CUSTOS_SMTP_URL: box.url });
  await importExample(t);
});

afterAll(async () => {
  await t?.close();
  await box?.close();
});

const remindersOf = async (id: string) =>
  (await t.ctx.dsr.show(id)).timeline.filter((e) => e.action === 'reminder').length;

describe('the reminder before the due date', () => {
  it('comes again before the new due date of a request extended in its last week', async () => {
    const filed = await t.ctx.dsr.file(
      {
        accountId: GINA,
        type: 'rectification',
        details: 'My name is Gina Rossi',
        via: 'privacy-centre',
        signedIn: true,
      },
      PERSON(GINA),
    );
    // Received 25 days ago: the last week of its month.
    const received = (daysAgo: number) =>
      t.ctx.database.db
        .updateTable('dsr_requests')
        .set({ received_at: new Date(Date.now() - daysAgo * DAY).toISOString() })
        .where('id', '=', filed.id)
        .execute();
    await received(25);
    await t.ctx.dsr.watch();
    expect(await remindersOf(filed.id)).toBe(1);

    await t.ctx.dsr.extend(filed.id, 1, 'Several systems to check', OPERATOR);
    await t.ctx.dsr.watch();
    expect(await remindersOf(filed.id)).toBe(1);

    // A month later: the last week of the extended period.
    await received(56);
    await t.ctx.dsr.watch();
    expect(await remindersOf(filed.id)).toBe(2);
  });
});

describe("the access export's step", () => {
  it('tells the person once when two runs compile the same request', async () => {
    const filed = await t.ctx.dsr.file(
      { accountId: ADA, type: 'access', via: 'privacy-centre', signedIn: true },
      PERSON(ADA),
    );
    await t.ctx.dsr.advance(filed.id);
    expect((await t.ctx.dsr.get(filed.id)).state).toBe('awaiting-apps');
    // The apps' window closed: two workers pick the compiling step up at once.
    await t.ctx.database.db
      .updateTable('dsr_requests')
      .set({ state: 'compiling', apps_deadline_at: new Date().toISOString() })
      .where('id', '=', filed.id)
      .execute();
    await Promise.all([t.ctx.dsr.advance(filed.id), t.ctx.dsr.advance(filed.id)]);
    expect((await t.ctx.dsr.get(filed.id)).state).toBe('completed');
    expect(
      box.mailsTo('ada@acme.test').filter((m) => m.headers.get('subject') === 'Your data is ready'),
    ).toHaveLength(1);
  });
});

describe("an app's upload", () => {
  it("waits for the request's lock, and is refused once the apps' window closed under it", async () => {
    const filed = await t.ctx.dsr.file(
      { accountId: GINA, type: 'access', via: 'privacy-centre', signedIn: true },
      PERSON(GINA),
    );
    await t.ctx.dsr.advance(filed.id);
    expect((await t.ctx.dsr.get(filed.id)).state).toBe('awaiting-apps');
    const bearer = await oauthToken(t, 'timesheets', SECRETS.timesheetsClient, 'report:personal-data');

    let upload: Promise<{ statusCode: number; body: string }> | undefined;
    await t.ctx.database.writeTransaction(async (trx) => {
      // What closing the window does (the deadline's step, expedite): under the request's lock.
      await t.ctx.database.advisoryLock(trx, `dsr-request:${filed.id}`);
      upload = t.app.inject({
        method: 'POST',
        url: `/app/dsr/requests/${filed.id}/part`,
        headers: { authorization: `Bearer ${bearer}` },
        payload: { data: { timesheets: [] } },
      });
      await sleep(300);
      await trx
        .updateTable('dsr_requests')
        .set({ state: 'compiling', apps_deadline_at: new Date().toISOString() })
        .where('id', '=', filed.id)
        .execute();
    });
    const answer = await upload;
    expect(answer?.statusCode, answer?.body).toBe(409);
    const part = await t.ctx.database.db
      .selectFrom('dsr_app_parts')
      .select(['part', 'answered_at'])
      .where('request_id', '=', filed.id)
      .execute();
    expect(part.every((p) => p.part === null && p.answered_at === null)).toBe(true);
  });
});
