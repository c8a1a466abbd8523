import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clearExpiredExports } from '../../src/dsr/dsr.repository.js';
import type { DsrView } from '../../src/dsr/dsr.service.js';
import { consentClient, createTestApp, GMOI_TEXT, type TestApp, waitForApplied } from '../helpers/app.js';
import {
  ACTIVE_ID,
  ADA,
  adminClient,
  GINA,
  importExample,
  oauthToken,
  SECRETS,
} from '../helpers/directory.js';
import { accounts, now, reportWithBearer, timesheetsToken } from '../helpers/reporting.js';
import { until } from '../helpers/wait.js';

/**
 * What an erasure leaves behind, and what it must not take with it: earlier exports and apps'
 * parts go with the profile, ConsentHub stops answering "granted" for the address, and a
 * restriction the person had before stands whatever becomes of the erasure. An operator closing
 * the account takes the copies with the profile as an erasure does.
 */

const PERSON = (accountId: string) => ({ type: 'account' as const, id: accountId });
const OPERATOR = { type: 'operator' as const, id: 'test' };
let t: TestApp;

async function stateOf(id: string, wanted: DsrView['state']) {
  await until(async () => (await t.ctx.dsr.get(id)).state === wanted, {
    timeoutMs: 10_000,
    message: `request ${id} to be ${wanted}`,
  });
}

/** An access request of the account, with Timesheets' part uploaded, completed. */
async function completedAccess(accountId: string) {
  const filed = await t.ctx.dsr.file(
    { accountId, type: 'access', via: 'privacy-centre', signedIn: true },
    PERSON(accountId),
  );
  await stateOf(filed.id, 'awaiting-apps');
  const bearer = await oauthToken(t, 'timesheets', SECRETS.timesheetsClient, 'report:personal-data');
  const upload = await t.app.inject({
    method: 'POST',
    url: `/app/dsr/requests/${filed.id}/part`,
    headers: { authorization: `Bearer ${bearer}` },
    payload: { data: { timesheets: [{ week: '2026-W48', hours: 38 }] } },
  });
  expect(upload.statusCode, upload.body).toBe(200);
  await t.ctx.dsr.expedite(filed.id, 'the other apps hold nothing', OPERATOR);
  await stateOf(filed.id, 'completed');
  return filed.id;
}

/** An erasure of the account, its grace period ended early by an operator, completed. */
async function completedErasure(accountId: string) {
  const erasure = await t.ctx.dsr.file(
    { accountId, type: 'erasure', via: 'privacy-centre', signedIn: true },
    PERSON(accountId),
  );
  await stateOf(erasure.id, 'grace-period');
  await t.ctx.dsr.expedite(erasure.id, 'the person asked for it now', OPERATOR);
  await stateOf(erasure.id, 'completed');
}

const storedOf = async (requestId: string) => ({
  export: (
    await t.ctx.database.db
      .selectFrom('dsr_exports')
      .select(['content', 'deleted_at'])
      .where('request_id', '=', requestId)
      .executeTakeFirstOrThrow()
  ).content,
  parts: (
    await t.ctx.database.db
      .selectFrom('dsr_app_parts')
      .select(['app_key', 'part', 'answered_at'])
      .where('request_id', '=', requestId)
      .where('answered_at', 'is not', null)
      .execute()
  ).map((p) => p.part),
});

const readWithLink = (requestId: string, accountId: string) => {
  const url = new URL(t.ctx.dsr.exportLink(requestId, accountId).path, 'http://x');
  return t.ctx.dsr.readExport(
    requestId,
    accountId,
    Number(url.searchParams.get('exp')),
    url.searchParams.get('sig') as string,
  );
};

beforeAll(async () => {
  t = await createTestApp({ CUSTOS_WORKER_POLL_MS: '10' });
  await importExample(t);
  const report = await reportWithBearer(
    t,
    await timesheetsToken(t),
    accounts([ADA, now()], [ACTIVE_ID, now()], [GINA, now()]),
  );
  expect(report.statusCode).toBeLessThan(300);
});

afterAll(async () => {
  await t?.close();
});

describe('an erasure', () => {
  it("empties the account's earlier exports and apps' parts, refuses its export link, and suppresses its address", async () => {
    const client = await consentClient(t, 'crm@example.com');
    const granted = await t.app.inject({
      method: 'POST',
      url: '/consent-hub/consent',
      headers: { authorization: client.authorization },
      payload: {
        email: 'ada@acme.test',
        locale: 'GB',
        consents: [{ key: 'generalMarketingOptIn', granted: true, displayedText: GMOI_TEXT }],
      },
    });
    expect(granted.statusCode).toBe(202);
    await waitForApplied(t);
    const ask = async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/consent-hub/consent-config/get',
        headers: { authorization: client.authorization },
        payload: { email: 'ada@acme.test' },
      });
      expect(res.statusCode).toBe(200);
      return res.json();
    };
    expect((await ask()).usersChoiceOnMarketingCommunicationOptIn).toBe(true);

    const access = await completedAccess(ADA);
    expect(await readWithLink(access, ADA)).toMatchObject({ profile: { email: 'ada@acme.test' } });
    const kept = await storedOf(access);
    expect(kept.export).toContain('ada@acme.test');
    expect(kept.parts).toEqual([expect.stringContaining('2026-W48')]);

    await completedErasure(ADA);

    expect(await storedOf(access)).toEqual({ export: null, parts: [null] });
    await expect(readWithLink(access, ADA)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('closed'),
    });
    // The consent events stay as proof of what was given; the answer for the address is "no".
    expect(await t.ctx.consent.listHistory('ada@acme.test')).toHaveLength(1);
    expect(await ask()).toMatchObject({
      hasUserMadeChoiceOnMarketingCommunicationOptIn: true,
      usersChoiceOnMarketingCommunicationOptIn: false,
    });
  });
});

describe('the export clean-up', () => {
  it("clears the apps' parts with the export once its retention ends", async () => {
    const access = await completedAccess(GINA);
    await t.ctx.database.db
      .updateTable('dsr_exports')
      .set({ delete_after: '2020-01-01T00:00:00.000Z' })
      .where('request_id', '=', access)
      .execute();
    const cleared = await t.ctx.database.writeTransaction((trx) => clearExpiredExports(trx, now(), 100));
    expect(cleared).toBe(1);
    expect(await storedOf(access)).toEqual({ export: null, parts: [null] });
  });
});

describe('a restriction and an erasure of the same account', () => {
  it('keeps the restriction when the erasure is cancelled', async () => {
    const restriction = await t.ctx.dsr.file(
      { accountId: ACTIVE_ID, type: 'restriction', via: 'privacy-centre', signedIn: true },
      PERSON(ACTIVE_ID),
    );
    await stateOf(restriction.id, 'completed');
    const erasure = await t.ctx.dsr.file(
      { accountId: ACTIVE_ID, type: 'erasure', via: 'privacy-centre', signedIn: true },
      PERSON(ACTIVE_ID),
    );
    await stateOf(erasure.id, 'grace-period');
    expect(await t.ctx.dsr.standing(ACTIVE_ID)).toMatchObject({ restricted: true, erasurePending: true });
    expect(await t.ctx.dsr.listRestricted([ACTIVE_ID, GINA])).toEqual(new Set([ACTIVE_ID]));

    await t.ctx.dsr.cancel(erasure.id, ACTIVE_ID, PERSON(ACTIVE_ID));
    expect(await t.ctx.dsr.standing(ACTIVE_ID)).toMatchObject({ restricted: true, erasurePending: false });
    expect(await t.ctx.dsr.listRestricted([ACTIVE_ID])).toEqual(new Set([ACTIVE_ID]));

    // Lifting it is still the person's or an operator's act, recorded.
    await t.ctx.dsr.liftRestriction(ACTIVE_ID, 'the person asked', PERSON(ACTIVE_ID));
    expect(await t.ctx.dsr.listRestricted([ACTIVE_ID])).toEqual(new Set());
    expect((await t.ctx.dsr.show(restriction.id)).timeline.map((e) => e.action)).toContain(
      'restriction-lifted',
    );
  });
});

describe('an access request still open when the erasure completes', () => {
  it('keeps nothing: a late part is refused, and its compiled export is not stored', async () => {
    const access = await t.ctx.dsr.file(
      { accountId: GINA, type: 'access', via: 'privacy-centre', signedIn: true },
      PERSON(GINA),
    );
    await stateOf(access.id, 'awaiting-apps');
    await completedErasure(GINA);

    const bearer = await oauthToken(t, 'timesheets', SECRETS.timesheetsClient, 'report:personal-data');
    const late = await t.app.inject({
      method: 'POST',
      url: `/app/dsr/requests/${access.id}/part`,
      headers: { authorization: `Bearer ${bearer}` },
      payload: { data: { timesheets: [{ week: '2026-W49', hours: 40 }] } },
    });
    expect(late.statusCode).toBe(409);
    expect(late.json().errorMessage).toContain('closed');

    await t.ctx.dsr.expedite(access.id, 'the other apps hold nothing', OPERATOR);
    await stateOf(access.id, 'completed');
    const stored = await t.ctx.database.db
      .selectFrom('dsr_exports')
      .select('content')
      .where('request_id', '=', access.id)
      .executeTakeFirst();
    expect(stored?.content ?? null).toBeNull();
    expect((await t.ctx.dsr.get(access.id)).outcomeReason).toContain('nothing kept');
  });
});

describe('an operator closing an account', () => {
  it("empties its exports and apps' parts as an erasure does, and refuses its export link", async () => {
    const access = await completedAccess(ACTIVE_ID);
    expect(await readWithLink(access, ACTIVE_ID)).toMatchObject({ profile: { email: 'grace@acme.test' } });
    expect((await storedOf(access)).parts).toEqual([expect.stringContaining('2026-W48')]);

    const closed = await t.app.inject({
      method: 'POST',
      url: `/admin/accounts/${ACTIVE_ID}/close`,
      headers: { authorization: await adminClient(t) },
    });
    expect(closed.statusCode, closed.body).toBe(200);

    expect(await storedOf(access)).toEqual({ export: null, parts: [null] });
    await expect(readWithLink(access, ACTIVE_ID)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('closed'),
    });
  });
});
