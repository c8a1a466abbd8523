import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { ADA, importExample } from '../helpers/directory.js';

/**
 * A person objects to direct marketing and asks for erasure; the erasure's step may run
 * before the objection's (a worker killed while holding the objection's job, a busy queue).
 * The objection still suppresses the address the close is about to empty, made once.
 */

const PERSON = { type: 'account' as const, id: ADA };
let t: TestApp;

beforeAll(async () => {
  // No worker: the test runs each request's steps itself, in the order it wants.
  t = await createTestApp({ CUSTOS_IN_PROCESS_WORKER: 'false', CUSTOS_DSR_ERASURE_GRACE_DAYS: '0' });
  await importExample(t);
});

afterAll(async () => {
  await t?.close();
});

describe('an objection still waiting when the erasure closes the account', () => {
  it('is honoured before the close: the address is suppressed, the objection completed once', async () => {
    const { email } = (await t.ctx.directory.getAccount(ADA)).profile;
    expect(email).toBeTruthy();
    const objection = await t.ctx.dsr.file(
      { accountId: ADA, type: 'objection', via: 'privacy-centre', signedIn: true },
      PERSON,
    );
    const erasure = await t.ctx.dsr.file(
      { accountId: ADA, type: 'erasure', via: 'privacy-centre', signedIn: true },
      PERSON,
    );
    expect((await t.ctx.dsr.get(objection.id)).state).toBe('in-progress');

    await t.ctx.dsr.advance(erasure.id);
    expect((await t.ctx.dsr.get(erasure.id)).state).toBe('completed');
    expect((await t.ctx.directory.getAccount(ADA)).active).toBe(false);

    const suppressions = await t.ctx.database.db.selectFrom('marketing_suppressions').selectAll().execute();
    expect(suppressions).toMatchObject([{ account_id: ADA, request_id: objection.id }]);
    const done = await t.ctx.dsr.show(objection.id);
    expect(done).toMatchObject({ state: 'completed', outcomeReason: 'direct marketing suppressed' });
    // The objection's own job finds nothing left to do.
    expect(await t.ctx.dsr.advance(objection.id)).toEqual({ state: 'completed', steps: 0 });
    expect(done.timeline.map((e) => e.action)).toEqual(['filed', 'completed']);
  });
});
