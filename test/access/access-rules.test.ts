import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canTransition } from '../../src/access/access.rules.js';
import { ACCESS_STATUSES, type AccessStatus } from '../../src/access/access.schemas.js';
import { AccessProgramme } from '../../src/access/access.service.js';
import type { ReportingCompliance } from '../../src/access/reporting-compliance.port.js';
import { accessRequest } from '../helpers/access.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { ADA, importExample, OPERATOR, oauthToken, SECRETS } from '../helpers/directory.js';

/**
 * The programme's states (docs/wire-contracts.md#approval-and-its-limits): submitted →
 * auto-approved | auto-rejected | in-review → approved | rejected; approved → revoked.
 */
const ALLOWED: [AccessStatus, AccessStatus][] = [
  ['submitted', 'auto-approved'],
  ['submitted', 'auto-rejected'],
  ['submitted', 'in-review'],
  ['in-review', 'approved'],
  ['in-review', 'rejected'],
  ['auto-approved', 'revoked'],
  ['approved', 'revoked'],
];

describe('the state machine', () => {
  for (const from of ACCESS_STATUSES) {
    for (const to of ACCESS_STATUSES) {
      const allowed = ALLOWED.some(([f, t]) => f === from && t === to);
      it(`${allowed ? 'allows' : 'refuses'} ${from} → ${to}`, () => {
        expect(canTransition(from, to)).toBe(allowed);
      });
    }
  }
});

describe('the personal-data reporting prerequisite', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
    await importExample(t);
  });
  afterAll(() => t.close());

  const programme = (answer: 'yes' | 'no' | 'unknown') => {
    const reporting: ReportingCompliance = { reportedWithinCycle: async () => answer };
    return new AccessProgramme(t.ctx.database, t.ctx.audit, reporting, {
      requestsPerDay: t.ctx.config.accessRequestsPerDay,
    });
  };
  const storesPd = accessRequest('com.vendor.reporter', { storesPersonalData: true });

  it('approves an app that stores PD and reported within its cycle', async () => {
    const { id, status } = await programme('yes').submit(storesPd, OPERATOR);
    expect(status).toBe('auto-approved');
    expect((await t.ctx.access.get(id)).reportingCheck).toBe('met');
    await t.ctx.access.revoke('com.vendor.reporter', 'reset', OPERATOR);
  });

  it('sends an app that has not reported to review', async () => {
    const { id, status } = await programme('no').submit(storesPd, OPERATOR);
    expect(status).toBe('in-review');
    expect(await t.ctx.access.get(id)).toMatchObject({
      reportingCheck: 'not-met',
      reason: expect.stringContaining('not reported'),
    });
    await t.ctx.access.decide(id, 'rejected', 'report first', OPERATOR);
  });

  it('records the check as pending when the register cannot tell, and sends the request to review', async () => {
    const { id, status } = await programme('unknown').submit(storesPd, OPERATOR);
    expect(status).toBe('in-review');
    expect((await t.ctx.access.get(id)).reportingCheck).toBe('pending');
    await t.ctx.access.decide(id, 'rejected', 'report first', OPERATOR);
  });

  it('needs no check from an app that stores no PD (the app record counts as well as the request)', async () => {
    const { id, status } = await programme('unknown').submit(accessRequest('com.vendor.mailer'), OPERATOR);
    expect(status).toBe('auto-approved');
    expect((await t.ctx.access.get(id)).reportingCheck).toBe('not-required');
    const reporterClaimsNoPd = accessRequest('com.vendor.reporter', { storesPersonalData: false });
    expect((await programme('unknown').submit(reporterClaimsNoPd, OPERATOR)).status).toBe('in-review');
  });

  it('refuses a request for an app that does not exist', async () => {
    await expect(t.ctx.access.submit(accessRequest('com.vendor.none'), OPERATOR)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});

describe('the reporting prerequisite, read from the holdings register', () => {
  let r: TestApp;
  beforeAll(async () => {
    r = await createTestApp();
    await importExample(r);
  });
  afterAll(() => r.close());

  it('sends a PD-storing app that never reported to review, and approves it once it reports within its cycle', async () => {
    const storesPd = accessRequest('com.vendor.reporter', { storesPersonalData: true });
    const first = await r.ctx.access.submit(storesPd, OPERATOR);
    expect(first.status).toBe('in-review');
    expect((await r.ctx.access.get(first.id)).reportingCheck).toBe('not-met');
    await r.ctx.access.decide(first.id, 'rejected', 'report first', OPERATOR);

    const token = await oauthToken(r, 'reporter', SECRETS.readerClient, 'report:personal-data');
    const reported = await r.app.inject({
      method: 'POST',
      url: '/app/report-accounts/',
      headers: { authorization: `Bearer ${token}` },
      payload: { accounts: [{ accountId: ADA, updatedAt: new Date().toISOString() }] },
    });
    expect(reported.statusCode).toBe(204);
    await r.ctx.reporting.drain();

    const second = await r.ctx.access.submit(storesPd, OPERATOR);
    expect(second.status).toBe('auto-approved');
    expect((await r.ctx.access.get(second.id)).reportingCheck).toBe('met');
  });
});

describe('a report that names no account the app can see', () => {
  let r: TestApp;
  beforeAll(async () => {
    r = await createTestApp();
    await importExample(r);
  });
  afterAll(() => r.close());

  it('proves nothing: the request goes to review with the check pending, and no address is disclosed', async () => {
    const token = await oauthToken(r, 'reporter', SECRETS.readerClient, 'report:personal-data');
    const reported = await r.app.inject({
      method: 'POST',
      url: '/app/report-accounts/',
      headers: { authorization: `Bearer ${token}` },
      payload: { accounts: [{ accountId: 'made-up-id', updatedAt: new Date().toISOString() }] },
    });
    expect(reported.statusCode).toBe(204);
    await r.ctx.reporting.drain();
    expect(await r.ctx.compliance.reportedWithinCycle('com.vendor.reporter')).toBe('unknown');

    const storesPd = accessRequest('com.vendor.reporter', { storesPersonalData: true });
    const { id, status } = await r.ctx.access.submit(storesPd, OPERATOR);
    expect(status).toBe('in-review');
    expect((await r.ctx.access.get(id)).reportingCheck).toBe('pending');
  });
});
