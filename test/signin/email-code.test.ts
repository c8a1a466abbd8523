import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CODE_MAX_ATTEMPTS, CODE_TTL_MS } from '../../src/signin/email-code.service.js';
import { CODES_PER_ADDRESS, CODES_PER_EMAIL } from '../../src/signin/signin-limiter.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { ACTIVE_ID, ADA, CLOSED_ID, GINA, importExample, OPERATOR } from '../helpers/directory.js';
import { Mailbox } from '../helpers/mailbox.js';
import { WebClient } from '../helpers/web.js';

const CODE = /Your sign-in code is (\d{8})/;

let mailbox: Mailbox;
let t: TestApp;
/** The clock of sessions and sign-in: tests move it past a code's life. */
let offsetMs = 0;
const now = () => new Date(Date.now() + offsetMs);
let address = 0;
/** A caller address of its own for each test, so that one test's requests do not limit another's. */
const nextAddress = () => `198.51.100.${++address}`;

async function codeFor(email: string, count: number): Promise<string> {
  const mail = await mailbox.waitForMail(email, count);
  const code = CODE.exec(mail.body)?.[1];
  if (!code) throw new Error('no code in the mail');
  return code;
}

const auditOf = (action: string) =>
  t.ctx.database.db
    .selectFrom('audit_events')
    .select(['actor_type', 'actor_id', 'account_id', 'details'])
    .where('action', '=', action)
    .orderBy('id')
    .execute();

beforeAll(async () => {
  mailbox = await Mailbox.start();
  t = await createTestApp({ CUSTOS_SMTP_URL: mailbox.url }, { now });
  await importExample(t);
  await t.ctx.directory.closeAccount(CLOSED_ID, OPERATOR);
});
afterAll(async () => {
  await t?.close();
  await mailbox?.close();
});

describe('sign-in by emailed code, through the pages', () => {
  it('mails a code that signs in once, then sends the person to next', async () => {
    const web = new WebClient(t);
    expect((await web.get('/login?next=/privacy')).statusCode).toBe(200);
    const asked = await web.post('/login/code', { email: 'Ada@Acme.test ', next: '/privacy' });
    expect(asked.statusCode).toBe(200);
    expect(asked.body).toContain('Enter your code');
    const challenge = /name="challenge" value="([^"]+)"/.exec(asked.body)?.[1] ?? '';
    const code = await codeFor('ada@acme.test', 1);

    const signedIn = await web.post('/login/code/verify', { challenge, code, next: '/privacy' });
    expect(signedIn.statusCode).toBe(303);
    expect(signedIn.headers.location).toBe('/privacy');
    const home = await web.get('/');
    expect(home.body).toContain('Welcome');
    expect(home.body).toContain(ADA);

    // The same code a second time, even from a signed-in browser: refused.
    const again = await web.post('/login/code/verify', { challenge, code, next: '/privacy' });
    expect(again.statusCode).toBe(410);
    expect(again.body).toContain('This code no longer works');

    expect(await auditOf('signin.email-code')).toEqual([
      {
        actor_type: 'account',
        actor_id: ADA,
        account_id: ADA,
        details: JSON.stringify({ challengeId: challenge }),
      },
    ]);
    // Neither the address nor the code in any log line.
    const logs = t.logs.join('');
    expect(logs).not.toContain('acme.test');
    expect(logs).not.toContain(code);
  });

  it('answers a known and an unknown email alike, and mails only the known one', async () => {
    const ask = async (email: string) => {
      const web = new WebClient(t);
      await web.get('/login');
      const res = await web.post('/login/code', { email });
      const masked = res.body
        .replaceAll(email, '<email>')
        .replace(/name="challenge" value="[^"]+"/, 'challenge')
        .replaceAll(web.csrfToken ?? '<none>', '<csrf>');
      return { status: res.statusCode, type: res.headers['content-type'], body: masked };
    };
    const mailsBefore = mailbox.received.length;
    const known = await ask('gina@globex.test');
    const unknown = await ask('nina@globex.test');
    const closed = await ask('leaver@acme.test');
    expect(unknown).toEqual(known);
    expect(closed).toEqual(known);
    await codeFor('gina@globex.test', 1);
    expect(mailbox.mailsTo('nina@globex.test')).toEqual([]);
    expect(mailbox.mailsTo('leaver@acme.test')).toEqual([]);
    expect(mailbox.received.length).toBe(mailsBefore + 1);

    // Wrong codes against either challenge: the same answers.
    const unknownId = await t.ctx.signInCodes.request('nobody@example.test', nextAddress());
    const knownId = await t.ctx.signInCodes.request('gina@globex.test', nextAddress());
    const from = nextAddress();
    expect(await t.ctx.signInCodes.verify(unknownId, '00000000', from)).toEqual(
      await t.ctx.signInCodes.verify(knownId, '00000000', from),
    );
    expect(GINA).toBeTruthy();
  });

  it('shows a wrong code with the tries left, as an error tied to the field', async () => {
    const web = new WebClient(t);
    await web.get('/login');
    const asked = await web.post('/login/code', { email: 'nobody@example.test' });
    const challenge = /name="challenge" value="([^"]+)"/.exec(asked.body)?.[1] ?? '';
    const wrong = await web.post('/login/code/verify', { challenge, code: '1234 5678' });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.body).toContain(`${CODE_MAX_ATTEMPTS - 1} of ${CODE_MAX_ATTEMPTS} tries left`);
    expect(wrong.body).toContain('aria-describedby="code-error"');
  });

  it('refuses a malformed email naming the field, without a code', async () => {
    const web = new WebClient(t);
    await web.get('/login');
    const res = await web.post('/login/code', { email: 'not an email' });
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain('email');
  });
});

describe('the code itself', () => {
  it('is stored as an HMAC only, never the digits', async () => {
    const id = await t.ctx.signInCodes.request('grace@acme.test', nextAddress());
    const code = await codeFor('grace@acme.test', 1);
    const row = await t.ctx.database.db
      .selectFrom('sign_in_codes')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row.account_id).toBe(ACTIVE_ID);
    expect(row.code_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(row)).not.toContain(code);
  });

  it('works for 10 minutes only', async () => {
    const id = await t.ctx.signInCodes.request('grace@acme.test', nextAddress());
    const code = await codeFor('grace@acme.test', 2);
    offsetMs = CODE_TTL_MS;
    try {
      expect(await t.ctx.signInCodes.verify(id, code, nextAddress())).toEqual({ ok: false, reason: 'spent' });
    } finally {
      offsetMs = 0;
    }
  });

  it('dies at the fifth wrong try, even for the right code after it', async () => {
    const id = await t.ctx.signInCodes.request('grace@acme.test', nextAddress());
    const code = await codeFor('grace@acme.test', 3);
    const wrong = code === '00000000' ? '11111111' : '00000000';
    const from = nextAddress();
    for (let left = CODE_MAX_ATTEMPTS - 1; left > 0; left--)
      expect(await t.ctx.signInCodes.verify(id, wrong, from)).toEqual({
        ok: false,
        reason: 'wrong',
        attemptsLeft: left,
      });
    expect(await t.ctx.signInCodes.verify(id, wrong, from)).toEqual({ ok: false, reason: 'spent' });
    expect(await t.ctx.signInCodes.verify(id, code, from)).toEqual({ ok: false, reason: 'spent' });
    const locked = await auditOf('signin.code-locked');
    expect(locked.at(-1)).toEqual({
      actor_type: 'system',
      actor_id: 'sign-in',
      account_id: ACTIVE_ID,
      details: JSON.stringify({ challengeId: id }),
    });
  });

  it('refuses an unknown challenge', async () => {
    expect(
      await t.ctx.signInCodes.verify('00000000-0000-4000-8000-000000000000', '12345678', nextAddress()),
    ).toEqual({ ok: false, reason: 'spent' });
  });
});

describe('rate limits', () => {
  it(`sends at most ${CODES_PER_EMAIL} codes per email, known or not`, async () => {
    for (const email of ['ada@acme.test', 'someone-else@acme.test']) {
      // The first page test asked one code for Ada already.
      const already = email === 'ada@acme.test' ? 1 : 0;
      for (let i = already; i < CODES_PER_EMAIL; i++) await t.ctx.signInCodes.request(email, nextAddress());
      await expect(t.ctx.signInCodes.request(email, nextAddress())).rejects.toMatchObject({
        code: 'RATE_LIMITED',
        headers: { 'Retry-After': expect.stringMatching(/^\d+$/) },
      });
    }
  });

  it(`takes at most ${CODES_PER_ADDRESS} requests from one address`, async () => {
    const from = nextAddress();
    for (let i = 0; i < CODES_PER_ADDRESS; i++)
      await t.ctx.signInCodes.request(`spray${i}@example.test`, from);
    await expect(t.ctx.signInCodes.request('spray-last@example.test', from)).rejects.toMatchObject({
      code: 'RATE_LIMITED',
    });
  });

  it('answers 429 on the page with Retry-After', async () => {
    const web = new WebClient(t);
    await web.get('/login');
    let res = await web.post('/login/code', { email: 'limited@example.test' });
    for (let i = 1; i < CODES_PER_EMAIL; i++)
      res = await web.post('/login/code', { email: 'limited@example.test' });
    expect(res.statusCode).toBe(200);
    res = await web.post('/login/code', { email: 'limited@example.test' });
    expect(res.statusCode).toBe(429);
    expect(res.headers['retry-after']).toMatch(/^\d+$/);
    expect(res.body).toContain('Too many sign-in attempts');
  });
});
