import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listEventsByEmail } from '../../src/consent/consent.repository.js';
import { MAX_NOTICE_TEXT } from '../../src/consent/notice.service.js';
import { AppError } from '../../src/errors/app-error.js';
import { createConsentTestApp, TEST_OPERATOR, type TestApp, waitForApplied } from '../helpers/app.js';
import { adminClient } from '../helpers/directory.js';

let t: TestApp;
let auth: string;
let admin: string;

beforeAll(async () => {
  ({ t, auth } = await createConsentTestApp());
  admin = await adminClient(t);
});
afterAll(() => t.close());

const addNotice = (body: Record<string, unknown>) =>
  t.app.inject({
    method: 'POST',
    url: '/admin/consent-notices',
    headers: { authorization: admin },
    payload: body,
  });

const consent = (body: unknown) =>
  t.app.inject({
    method: 'POST',
    url: '/consent-hub/consent',
    headers: { authorization: auth, 'content-type': 'application/json' },
    payload: JSON.stringify(body),
  });

const noticesOf = (key: string) =>
  t.ctx.database.db.selectFrom('consent_notices').selectAll().where('key', '=', key).execute();

/** What a service call threw: the CLI and the console call it without the API's schema. */
async function refusal(call: Promise<unknown>): Promise<AppError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe('the longest notice', () => {
  // Words and line breaks, as a long notice is written; exactly the limit once trimmed.
  const longest = 'We process your data. '
    .repeat(MAX_NOTICE_TEXT)
    .slice(0, MAX_NOTICE_TEXT - 1)
    .concat('.');

  it('can be registered and then granted, shown with white space around it', async () => {
    expect(longest).toHaveLength(MAX_NOTICE_TEXT);
    const res = await addNotice({ key: 'longNotice', version: 'v1', text: longest });
    expect(res.statusCode).toBe(201);
    const granted = await consent({
      email: 'long@example.com',
      locale: 'DE',
      consents: [{ key: 'longNotice', granted: true, displayedText: `\n  ${longest}\n\n` }],
    });
    expect(granted.statusCode).toBe(202);
    await waitForApplied(t);
    const [event] = await listEventsByEmail(t.ctx.database.db, 'long@example.com');
    expect(event).toMatchObject({ key: 'longNotice', granted: 1, notice_version: 'v1' });
  });

  it('counts characters beyond the BMP once, on the API and in the service alike', async () => {
    // More UTF-16 units than the limit, fewer characters (and within the API's body limit).
    const astral = '😀'.repeat(MAX_NOTICE_TEXT / 2 + 1);
    expect(astral.length).toBeGreaterThan(MAX_NOTICE_TEXT);
    expect((await addNotice({ key: 'astralNotice', version: 'v1', text: astral })).statusCode).toBe(201);
    await t.ctx.notices.add({ key: 'astralNotice', version: 'v2', text: `${astral}!` }, TEST_OPERATOR);
    const longest = '😀'.repeat(MAX_NOTICE_TEXT);
    await t.ctx.notices.add({ key: 'astralNotice', version: 'v3', text: longest }, TEST_OPERATOR);
    const byService = await refusal(
      t.ctx.notices.add({ key: 'astralNotice', version: 'v4', text: `${longest}😀` }, TEST_OPERATOR),
    );
    expect(byService).toMatchObject({ code: 'VALIDATION_FAILED', field: 'text' });
  });

  it('is the limit: a longer text is refused with 400 naming text, and nothing is stored', async () => {
    const res = await addNotice({ key: 'tooLong', version: 'v1', text: `${longest}x` });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ field: 'text' });
    const byService = await refusal(
      t.ctx.notices.add({ key: 'tooLong', version: 'v1', text: `${longest}x` }, TEST_OPERATOR),
    );
    expect(byService).toMatchObject({ code: 'VALIDATION_FAILED', field: 'text' });
    expect(await noticesOf('tooLong')).toEqual([]);
  });

  it('refuses a displayedText beyond the longest notice and its margin, naming it', async () => {
    const res = await consent({
      email: 'long@example.com',
      locale: 'DE',
      consents: [{ key: 'longNotice', granted: true, displayedText: `${' '.repeat(1001)}${longest}` }],
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ field: 'consents.0.displayedText' });
  });
});

describe('effectiveAt', () => {
  it.each([
    '9999-12-31T23:59:59-01:00', // year 10000 in UTC
    '0000-01-01T00:00:00+01:00', // year -1 in UTC
    '+010000-01-01T00:00:00.000Z',
    '10000-01-01T00:00:00Z',
  ])('answers 400 naming effectiveAt to %s, and stores nothing', async (effectiveAt) => {
    const res = await addNotice({ key: 'farFuture', version: 'v1', text: 'Far future', effectiveAt });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ field: 'effectiveAt' });
    expect(res.json().errorMessage).toContain('years 0000-9999');
    const byService = await refusal(
      t.ctx.notices.add({ key: 'farFuture', version: 'v1', text: 'Far future', effectiveAt }, TEST_OPERATOR),
    );
    expect(byService).toMatchObject({ code: 'VALIDATION_FAILED', field: 'effectiveAt' });
    expect(await noticesOf('farFuture')).toEqual([]);
  });

  it('stores the last instant of year 9999 as text that sorts after every earlier one', async () => {
    const res = await addNotice({
      key: 'lastInstant',
      version: 'v1',
      text: 'The last instant',
      effectiveAt: '9999-12-31T22:59:59.999-01:00',
    });
    expect(res.statusCode).toBe(201);
    expect(res.json().effectiveAt).toBe('9999-12-31T23:59:59.999Z');
  });
});
