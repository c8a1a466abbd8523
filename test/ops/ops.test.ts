import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  consentClient,
  createConsentTestApp,
  createTestApp,
  GMOI_TEXT,
  type TestApp,
  waitForApplied,
} from '../helpers/app.js';
import { until } from '../helpers/wait.js';

let t: TestApp;
let auth: string;

beforeAll(async () => {
  ({ t, auth } = await createConsentTestApp());
});
afterAll(() => t.close());

describe('operations', () => {
  it('GET /healthz and /readyz', async () => {
    expect((await t.app.inject('/healthz')).json()).toEqual({ status: 'ok' });
    expect((await t.app.inject('/readyz')).json()).toEqual({ status: 'ready' });
  });

  it('GET /metrics exposes request counts and latencies by route, queue depth and apply lag', async () => {
    const accepted = await t.app.inject({
      method: 'POST',
      url: '/consent-hub/consent',
      headers: { authorization: auth },
      payload: {
        email: 'm@example.com',
        locale: 'US',
        consents: [{ key: 'generalMarketingOptIn', granted: true, displayedText: GMOI_TEXT }],
      },
    });
    expect(accepted.statusCode).toBe(202);
    await waitForApplied(t);
    // The worker records the apply lag once its transaction has committed, a moment after the
    // request shows as applied in the database.
    const res = await until(
      async () => {
        const scraped = await t.app.inject('/metrics');
        return scraped.body.includes('custos_consent_apply_lag_seconds_count 1') && scraped;
      },
      { message: 'the apply lag to be recorded' },
    );
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    const text = res.body;
    expect(text).toMatch(
      /custos_http_requests_total\{method="POST",route="\/consent-hub\/consent",status_code="202"\} 1/,
    );
    expect(text).toMatch(
      /custos_http_request_duration_seconds_bucket\{le="[^"]+",method="POST",route="\/consent-hub\/consent"/,
    );
    expect(text).toMatch(/custos_consent_queue_depth 0/);
    expect(text).toMatch(/custos_consent_apply_lag_seconds_count 1/);
  });

  it('serves the OpenAPI document and the interactive docs page', async () => {
    const doc = (await t.app.inject('/openapi.json')).json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/consent-hub/consent', '/consent-hub/consent-config/get', '/healthz']),
    );
    const consent = doc.paths['/consent-hub/consent'].post;
    expect(Object.keys(consent.responses)).toEqual(
      expect.arrayContaining(['202', '400', '401', '403', '413']),
    );
    const docs = await t.app.inject('/docs/');
    expect(docs.statusCode).toBe(200);
    expect(docs.body).toContain('swagger');
  });

  it('answers unknown routes with a JSON 404 in the error shape', async () => {
    const res = await t.app.inject('/nope');
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ errorType: 'NOT_FOUND', errorMessage: 'Route not found' });
  });

  it('keeps personal data and secrets out of the logs', async () => {
    const email = 'very.private.person@example.org';
    const ip = '185.166.140.232';
    const read = await t.app.inject({
      method: 'POST',
      url: '/consent-hub/consent-config/get',
      headers: { authorization: auth, 'x-forwarded-for': ip },
      payload: { email, userIp: ip },
    });
    expect(read.statusCode).toBe(200);
    // Refused by the service, after the body was read: personal data went as far as it can.
    const refused = await t.app.inject({
      method: 'POST',
      url: '/consent-hub/consent',
      headers: { authorization: auth },
      payload: {
        email,
        locale: 'US',
        consents: [{ key: 'generalMarketingOptIn', granted: true, displayedText: 'wrong' }],
      },
    });
    expect(refused.statusCode).toBe(400);
    const logs = t.logs.join('');
    expect(logs).toContain('/consent-hub/consent-config/get');
    expect(logs).not.toContain(email);
    expect(logs).not.toContain(ip);
    expect(logs).not.toContain('127.0.0.1');
    expect(logs).not.toContain(auth.slice(6));
  });
});

describe('server errors', () => {
  it('hide the driver message behind a generic 500, and readiness reports 503', async () => {
    const broken = await createTestApp();
    const brokenAuth = (await consentClient(broken)).authorization;
    // The database goes away under the running app.
    await broken.ctx.worker.stop();
    await broken.ctx.database.close();
    try {
      const res = await broken.app.inject({
        method: 'POST',
        url: '/consent-hub/consent-config/get',
        headers: { authorization: brokenAuth },
        payload: { email: 'x@example.com' },
      });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toEqual({ errorType: 'INTERNAL', errorMessage: 'Internal server error' });
      expect((await broken.app.inject('/readyz')).statusCode).toBe(503);
    } finally {
      await broken.app.close();
      await broken.database.drop();
    }
  });
});
