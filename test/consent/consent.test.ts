import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listEventsByEmail } from '../../src/consent/consent.repository.js';
import {
  createConsentTestApp,
  GMOI_TEXT,
  TEST_OPERATOR,
  type TestApp,
  waitForApplied,
} from '../helpers/app.js';

let t: TestApp;
let auth: string;

beforeAll(async () => {
  ({ t, auth } = await createConsentTestApp());
});
afterAll(() => t.close());

function post(body: unknown, headers: Record<string, string> = {}) {
  return t.app.inject({
    method: 'POST',
    url: '/consent-hub/consent',
    headers: { authorization: auth, 'content-type': 'application/json', ...headers },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function choice(email: string) {
  const res = await t.app.inject({
    method: 'POST',
    url: '/consent-hub/consent-config/get',
    headers: { authorization: auth },
    payload: { email },
  });
  expect(res.statusCode).toBe(200);
  const body = res.json();
  return {
    made: body.hasUserMadeChoiceOnMarketingCommunicationOptIn,
    granted: body.usersChoiceOnMarketingCommunicationOptIn,
  };
}

async function requestCount(): Promise<number> {
  const row = await t.ctx.database.db
    .selectFrom('consent_requests')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

const grant = (displayedText = `${GMOI_TEXT}\n`) => ({
  key: 'generalMarketingOptIn',
  granted: true,
  displayedText,
});

describe('POST /consent-hub/consent', () => {
  it('accepts the documented example with 202 and no body, then applies it', async () => {
    const res = await post({
      consents: [grant()],
      email: 'example@email.com',
      formUrl: 'https://www.example.com/signup',
      locale: 'US',
      providerId: '12345',
    });
    expect(res.statusCode).toBe(202);
    expect(res.body).toBe('');
    await waitForApplied(t);
    expect(await choice('example@email.com')).toEqual({ made: true, granted: true });
  });

  it('records every proof field on the event', async () => {
    const res = await post(
      {
        consents: [grant()],
        email: 'Proof@Example.COM',
        formUrl: 'https://forms.example.com/a?b=c',
        locale: 'gb',
        providerId: 'p-1',
      },
      { 'user-agent': 'marketing-system/2.1' },
    );
    expect(res.statusCode).toBe(202);
    await waitForApplied(t);
    const [event] = await listEventsByEmail(t.ctx.database.db, 'proof@example.com');
    const client = await t.ctx.database.db.selectFrom('api_clients').select('id').executeTakeFirstOrThrow();
    expect(event).toMatchObject({
      email: 'proof@example.com',
      key: 'generalMarketingOptIn',
      granted: 1,
      displayed_text: `${GMOI_TEXT}\n`,
      text_sha256: 'b4f4442e2eb5d197ca6ebdf073b85bce3a4561070b99beb466ceb3b599321de7',
      notice_version: '2020-04-02',
      form_url: 'https://forms.example.com/a?b=c',
      locale: 'GB',
      provider_id: 'p-1',
      client_id: client.id,
      remote_addr: '127.0.0.1',
      user_agent: 'marketing-system/2.1',
    });
    expect(Date.parse(event?.received_at ?? '')).toBeLessThanOrEqual(Date.parse(event?.applied_at ?? ''));
    // Stored naming its notice: the text is not repeated, only the newline shown after it.
    const stored = await t.ctx.database.db
      .selectFrom('consent_events')
      .select(['displayed_text', 'text_sha256', 'notice_version', 'text_lead', 'text_trail'])
      .where('email', '=', 'proof@example.com')
      .executeTakeFirstOrThrow();
    expect(stored).toEqual({
      displayed_text: null,
      text_sha256: null,
      notice_version: '2020-04-02',
      text_lead: null,
      text_trail: '\n',
    });
    // The applied inbox row is compacted: the event holds what it said.
    const request = await t.ctx.database.db
      .selectFrom('consent_requests')
      .select(['email', 'consents', 'form_url', 'provider_id', 'remote_addr', 'user_agent', 'applied_at'])
      .where('email', '=', 'proof@example.com')
      .executeTakeFirstOrThrow();
    expect(request).toEqual({
      email: 'proof@example.com',
      consents: '[]',
      form_url: null,
      provider_id: null,
      remote_addr: '',
      user_agent: null,
      applied_at: event?.applied_at,
    });
  });

  it('matches emails case-insensitively', async () => {
    expect((await post({ consents: [grant()], email: 'MiXeD@Example.com', locale: 'DE' })).statusCode).toBe(
      202,
    );
    await waitForApplied(t);
    expect(await choice('mixed@example.COM')).toEqual({ made: true, granted: true });
  });

  it('accepts a withdrawal without any text, and keeps the original grant as history', async () => {
    expect(
      (await post({ consents: [grant()], email: 'withdraw@example.com', locale: 'FR' })).statusCode,
    ).toBe(202);
    const res = await post({
      consents: [{ key: 'generalMarketingOptIn', granted: false }],
      email: 'withdraw@example.com',
      locale: 'FR',
    });
    expect(res.statusCode).toBe(202);
    await waitForApplied(t);
    expect(await choice('withdraw@example.com')).toEqual({ made: true, granted: false });
    const events = await listEventsByEmail(t.ctx.database.db, 'withdraw@example.com');
    expect(events.map((e) => e.granted)).toEqual([1, 0]);
    expect(events[1]?.displayed_text).toBeNull();
  });

  it('applies the requests for one email in the order they were received', async () => {
    const email = 'order@example.com';
    const sequence = [true, false, true, false, false, true, false];
    for (const granted of sequence) {
      const consents = [granted ? grant(GMOI_TEXT) : { key: 'generalMarketingOptIn', granted: false }];
      expect((await post({ consents, email, locale: 'SE' })).statusCode).toBe(202);
    }
    await waitForApplied(t);
    const events = await listEventsByEmail(t.ctx.database.db, email);
    expect(events.map((e) => e.granted === 1)).toEqual(sequence);
    expect(events.map((e) => e.request_seq)).toEqual(
      [...events.map((e) => e.request_seq)].sort((a, b) => a - b),
    );
    expect(await choice(email)).toEqual({ made: true, granted: false });
  });

  it('keeps received order when many requests for one email arrive at once (one group commit)', async () => {
    const email = 'burst@example.com';
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        post({
          consents: [i % 2 === 0 ? grant() : { key: 'generalMarketingOptIn', granted: false }],
          email,
          locale: 'NL',
          providerId: `burst-${i}`,
        }),
      ),
    );
    expect(results.every((r) => r.statusCode === 202)).toBe(true);
    await waitForApplied(t);
    const events = await listEventsByEmail(t.ctx.database.db, email);
    expect(events).toHaveLength(40);
    expect(new Set(events.map((e) => e.provider_id)).size).toBe(40);
    // Concurrent requests are "received" in the order they were committed (request_seq);
    // the current choice is that of the last one received, whichever it was.
    const last = events.reduce((a, b) => (b.request_seq > a.request_seq ? b : a));
    expect(await choice(email)).toEqual({ made: true, granted: last.granted === 1 });
  });

  it('accepts an empty consents array and records no event', async () => {
    expect((await post({ consents: [], email: 'nothing@example.com', locale: 'UNKNOWN' })).statusCode).toBe(
      202,
    );
    await waitForApplied(t);
    expect(await listEventsByEmail(t.ctx.database.db, 'nothing@example.com')).toHaveLength(0);
    expect(await choice('nothing@example.com')).toEqual({ made: false, granted: false });
  });

  it('accepts a grant of an operator-registered notice version', async () => {
    await t.ctx.notices.add(
      { key: 'generalMarketingOptIn', version: '2026-11', text: '  Send me news from Example Corp.  ' },
      TEST_OPERATOR,
    );
    const res = await post({
      consents: [grant('Send me news from Example Corp.')],
      email: 'v2@example.com',
      locale: 'IE',
    });
    expect(res.statusCode).toBe(202);
    await waitForApplied(t);
    const [event] = await listEventsByEmail(t.ctx.database.db, 'v2@example.com');
    expect(event?.notice_version).toBe('2026-11');
  });

  describe('refuses bad input with 400 naming the field, and stores nothing', () => {
    const cases: [string, unknown, string][] = [
      ['missing email', { locale: 'US', consents: [] }, 'email'],
      ['invalid email', { email: 'not-an-email', locale: 'US' }, 'email'],
      ['email of wrong type', { email: 42, locale: 'US' }, 'email'],
      ['missing locale', { email: 'a@example.com' }, 'locale'],
      ['locale not ISO 3166-1', { email: 'a@example.com', locale: 'XX' }, 'locale'],
      ['locale too long', { email: 'a@example.com', locale: 'USA' }, 'locale'],
      ['lowercase unknown', { email: 'a@example.com', locale: 'unknown' }, 'locale'],
      ['consents not an array', { email: 'a@example.com', locale: 'US', consents: {} }, 'consents'],
      [
        'consent without key',
        { email: 'a@example.com', locale: 'US', consents: [{ granted: true }] },
        'consents.0.key',
      ],
      [
        'granted not boolean',
        {
          email: 'a@example.com',
          locale: 'US',
          consents: [{ key: 'generalMarketingOptIn', granted: 'true' }],
        },
        'consents.0.granted',
      ],
      [
        'unknown consent property',
        { email: 'a@example.com', locale: 'US', consents: [{ ...grant(), extra: 1 }] },
        'consents.0.extra',
      ],
      [
        'unknown consent key',
        { email: 'a@example.com', locale: 'US', consents: [{ key: 'sellMyData', granted: false }] },
        'consents.0.key',
      ],
      [
        'grant with unregistered text',
        { email: 'a@example.com', locale: 'US', consents: [grant('Yes, spam me.')] },
        'consents.0.displayedText',
      ],
      [
        'grant without text',
        { email: 'a@example.com', locale: 'US', consents: [{ key: 'generalMarketingOptIn', granted: true }] },
        'consents.0.displayedText',
      ],
      [
        'same key twice',
        { email: 'a@example.com', locale: 'US', consents: [grant(), grant()] },
        'consents.1.key',
      ],
      ['relative formUrl', { email: 'a@example.com', locale: 'US', formUrl: '/signup' }, 'formUrl'],
      [
        'non-http formUrl',
        { email: 'a@example.com', locale: 'US', formUrl: 'javascript:alert(1)' },
        'formUrl',
      ],
      [
        'providerId too long',
        { email: 'a@example.com', locale: 'US', providerId: 'x'.repeat(256) },
        'providerId',
      ],
      ['unknown top-level property', { email: 'a@example.com', locale: 'US', admin: true }, 'admin'],
      ['body not an object', [1, 2], 'body'],
    ];
    it.each(cases)('%s', async (_name, body, field) => {
      const before = await requestCount();
      const res = await post(body);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ field });
      expect(typeof res.json().errorMessage).toBe('string');
      expect(await requestCount()).toBe(before);
    });

    it('an invalid consent anywhere in the list stores none of the valid ones', async () => {
      const before = await requestCount();
      const res = await post({
        email: 'partial@example.com',
        locale: 'US',
        consents: [grant(), { key: 'nope', granted: true }],
      });
      expect(res.statusCode).toBe(400);
      expect(res.json().errorType).toBe('UNKNOWN_CONSENT_KEY');
      expect(await requestCount()).toBe(before);
    });
  });

  it('answers malformed JSON with 400, a wrong content type with 415, an oversized body with 413', async () => {
    const malformed = await post('{"email": "a@example.com",');
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().errorType).toBe('MALFORMED_JSON');
    const wrongType = await post('email=a@example.com', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(wrongType.statusCode).toBe(415);
    const plain = await post('hello', { 'content-type': 'text/plain' });
    expect(plain.statusCode).toBe(415);
    const huge = await post({ email: 'a@example.com', locale: 'US', providerId: 'x'.repeat(70_000) });
    expect(huge.statusCode).toBe(413);
    expect(huge.json().errorType).toBe('PAYLOAD_TOO_LARGE');
  });
});
