import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { ACTIVE_ID, importExample, SECRETS } from '../helpers/directory.js';
import { accounts, now, reportWithBearer, reportWithJwt, timesheetsToken } from '../helpers/reporting.js';

const body = () => accounts([ACTIVE_ID, now()]);

describe('report-accounts rate limit, one process', () => {
  let t: TestApp;
  let token: string;
  beforeAll(async () => {
    t = await createTestApp({ CUSTOS_REPORT_RATE_LIMIT: '3', CUSTOS_REPORT_RATE_WINDOW_S: '60' });
    await importExample(t);
    token = await timesheetsToken(t);
  });
  afterAll(() => t.close());

  it('answers 429 with Retry-After, Cycle-Period and the contract body once the app is over its budget', async () => {
    expect((await reportWithBearer(t, token, body())).statusCode).toBe(204);
    expect((await reportWithBearer(t, token, body())).statusCode).toBe(204);
    // The budget is the app's, whichever entry point or installation it uses.
    expect((await reportWithJwt(t, 'ts-globex-1', SECRETS.tsGlobex, body())).statusCode).toBe(204);
    const res = await reportWithBearer(t, token, body());
    expect(res.statusCode).toBe(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(res.headers['cycle-period']).toBe('15');
    expect(res.json()).toEqual({ errorType: 'RATE_LIMITED', errorMessage: expect.any(String) });
  });
});

describe('report-accounts rate limit shared through Redis', () => {
  // Two Custos instances (as two processes would be) share one budget per app.
  const env = {
    CUSTOS_REPORT_RATE_LIMIT: '3',
    CUSTOS_REDIS_URL: process.env.CUSTOS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    CUSTOS_REDIS_KEY_PREFIX: `custos-test:${randomUUID()}:`,
  };
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await createTestApp(env);
    b = await createTestApp(env);
    await importExample(a);
    await importExample(b);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it('counts requests to every instance against the same app budget', async () => {
    const [ta, tb] = [await timesheetsToken(a), await timesheetsToken(b)];
    expect((await reportWithBearer(a, ta, body())).statusCode).toBe(204);
    expect((await reportWithBearer(b, tb, body())).statusCode).toBe(204);
    expect((await reportWithBearer(a, ta, body())).statusCode).toBe(204);
    const res = await reportWithBearer(b, tb, body());
    expect(res.statusCode).toBe(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  });
});
