import { createHash } from 'node:crypto';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSENT_HUB_SCOPE } from '../../src/auth/scopes.js';
import { consentClient, GMOI_TEXT, waitForApplied } from '../helpers/app.js';
import { type ServedApp, serveTestApp } from '../helpers/browser.js';
import { ACTIVE_ID, ADA, importExample } from '../helpers/directory.js';
import { WebClient } from '../helpers/web.js';

let t: ServedApp;
let auth: string;

const ADA_EMAIL = 'ada@acme.test';
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

async function postConsent(email: string, granted: boolean) {
  const res = await t.app.inject({
    method: 'POST',
    url: '/consent-hub/consent',
    headers: { authorization: auth },
    payload: {
      consents: [
        { key: 'generalMarketingOptIn', granted, ...(granted ? { displayedText: `${GMOI_TEXT}\n` } : {}) },
      ],
      email,
      formUrl: 'https://www.example.com/newsletter',
      locale: 'NL',
    },
  });
  expect(res.statusCode).toBe(202);
  await waitForApplied(t);
}

async function search(email: string, authorization = auth) {
  return t.app.inject({
    method: 'POST',
    url: '/consent-hub/receipts/search',
    headers: { authorization },
    payload: { email },
  });
}

async function receiptsOf(email: string) {
  const res = await search(email);
  expect(res.statusCode).toBe(200);
  return res.json().receipts as { receiptId: string; jws: string; kid: string; method: string }[];
}

/** The newest receipt recorded under the email. */
async function latestOf(email: string) {
  const [receipt] = await receiptsOf(email);
  if (!receipt) throw new Error(`no receipt for ${email}`);
  return receipt;
}

beforeAll(async () => {
  t = await serveTestApp({
    CUSTOS_CONTROLLER_NAME: 'Example Corp',
    CUSTOS_CONTROLLER_CONTACT: 'privacy@example.com',
    CUSTOS_PRIVACY_POLICY_URL: 'https://www.example.com/privacy',
  });
  auth = (await consentClient(t)).authorization;
  await importExample(t);
});
afterAll(() => t?.close());

describe('signed consent receipts', () => {
  it('signs one receipt per consent change, with the Kantara fields and no email address', async () => {
    await postConsent('Ada@Acme.test', true);
    const receipt = await latestOf(ADA_EMAIL);
    expect(receipt).toBeTruthy();
    const jwks = createRemoteJWKSet(new URL(`${t.baseUrl}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(receipt.jws, jwks, {
      issuer: t.baseUrl,
      typ: 'custos-consent-receipt+jwt',
    });
    expect(protectedHeader.alg).toBe('EdDSA');
    expect(protectedHeader.kid).toBe(receipt.kid);
    expect(payload).toMatchObject({
      version: 'KI-CR-v1.1.0',
      jurisdiction: 'NL',
      collectionMethod: 'api',
      consentReceiptID: receipt.receiptId,
      jti: receipt.receiptId,
      piiPrincipalId: `sha256:${sha256(ADA_EMAIL)}`,
      piiControllers: [
        {
          piiController: 'Example Corp',
          contact: 'privacy@example.com',
          piiControllerUrl: 'https://www.example.com/privacy',
        },
      ],
      policyUrl: 'https://www.example.com/privacy',
      services: [
        {
          service: 'generalMarketingOptIn',
          purposes: [expect.objectContaining({ purpose: 'generalMarketingOptIn', consentType: 'EXPLICIT' })],
        },
      ],
      status: 'given',
      notice: { version: '2020-04-02', textSha256: sha256(GMOI_TEXT) },
      formUrl: 'https://www.example.com/newsletter',
    });
    expect(typeof payload.consentTimestamp).toBe('number');
    // Neither the receipt nor its stored row holds the address.
    const decoded = Buffer.from(receipt.jws.split('.')[1] as string, 'base64url').toString();
    expect(decoded.toLowerCase()).not.toContain('ada@acme.test');
    const rows = await t.ctx.database.db.selectFrom('consent_receipts').selectAll().execute();
    expect(JSON.stringify(rows).toLowerCase()).not.toContain('ada@acme.test');

    await postConsent(ADA_EMAIL, false);
    const after = await receiptsOf(ADA_EMAIL);
    expect(after).toHaveLength(2);
    const withdrawal = await jwtVerify(after[0]?.jws ?? '', jwks);
    expect(withdrawal.payload).toMatchObject({ status: 'withdrawn', notice: null });
  });

  it('stores the receipt in the transaction that appends the event: one per event', async () => {
    const events = await t.ctx.database.db
      .selectFrom('consent_events')
      .select(['request_seq', 'key'])
      .execute();
    const receipts = await t.ctx.database.db
      .selectFrom('consent_receipts')
      .select(['request_seq', 'consent_key'])
      .where('request_seq', 'is not', null)
      .execute();
    expect(receipts.map((r) => `${r.request_seq}/${r.consent_key}`).sort()).toEqual(
      events.map((e) => `${e.request_seq}/${e.key}`).sort(),
    );
  });

  it('lets the marketing system fetch a receipt by id, with ConsentHub credentials only', async () => {
    const receipt = await latestOf(ADA_EMAIL);
    const url = `/consent-hub/receipts/${receipt.receiptId}`;
    const ok = await t.app.inject({ method: 'GET', url, headers: { authorization: auth } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual(receipt);

    expect((await t.app.inject({ method: 'GET', url })).statusCode).toBe(401);
    const other = await consentClient(t, 'other@example.com', ['admin:custos']);
    const forbidden = await t.app.inject({
      method: 'GET',
      url,
      headers: { authorization: other.authorization },
    });
    expect(forbidden.statusCode).toBe(403);
    expect((await search(ADA_EMAIL, other.authorization)).statusCode).toBe(403);

    const unknown = await t.app.inject({
      method: 'GET',
      url: '/consent-hub/receipts/00000000-0000-4000-8000-000000000000',
      headers: { authorization: auth },
    });
    expect(unknown.statusCode).toBe(404);
    const malformed = await t.app.inject({
      method: 'GET',
      url: '/consent-hub/receipts/not-a-receipt',
      headers: { authorization: auth },
    });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().field).toBe('receiptId');
    const badEmail = await search('not an email');
    expect(badEmail.statusCode).toBe(400);
    expect(badEmail.json().field).toBe('email');
    expect(CONSENT_HUB_SCOPE).toBe('manage:consent-hub-consent');
  });

  it('fails verification after a one-byte change', async () => {
    const receipt = await latestOf(ADA_EMAIL);
    const jws = receipt.jws;
    const jwks = createRemoteJWKSet(new URL(`${t.baseUrl}/.well-known/jwks.json`));
    await expect(jwtVerify(jws, jwks)).resolves.toBeTruthy();
    // One byte of the payload: a different character at its middle.
    const [header, payload, signature] = jws.split('.') as [string, string, string];
    const i = Math.floor(payload.length / 2);
    const changed = `${header}.${payload.slice(0, i)}${payload[i] === 'A' ? 'B' : 'A'}${payload.slice(i + 1)}.${signature}`;
    expect(changed).not.toBe(jws);
    await expect(jwtVerify(changed, jwks)).rejects.toThrow();
  });

  it('publishes the verifying keys at /.well-known/jwks.json, public and without private parts', async () => {
    const res = await fetch(`${t.baseUrl}/.well-known/jwks.json`);
    expect(res.status).toBe(200);
    const { keys } = (await res.json()) as { keys: Record<string, string>[] };
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
      expect(key.d).toBeUndefined();
    }
    const receipt = await latestOf(ADA_EMAIL);
    expect(keys.map((k) => k.kid)).toContain(decodeProtectedHeader(receipt.jws).kid);
  });

  it('lets the person list and download their own receipts in the privacy centre, and nobody else’s', async () => {
    const ada = new WebClient(t);
    await ada.signIn(ADA);
    const page = await ada.get('/privacy/receipts');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Marketing email');
    expect(page.body).toContain('Withdrawn');
    const receipt = await latestOf(ADA_EMAIL);
    expect(page.body).toContain(`/privacy/receipts/${receipt.receiptId}`);

    const download = await ada.get(`/privacy/receipts/${receipt.receiptId}`);
    expect(download.statusCode).toBe(200);
    expect(download.headers['content-type']).toContain('application/jose');
    expect(download.headers['content-disposition']).toContain('attachment');
    expect(download.body).toBe(receipt.jws);

    const grace = new WebClient(t);
    await grace.signIn(ACTIVE_ID);
    const theirs = await grace.get(`/privacy/receipts/${receipt.receiptId}`);
    expect(theirs.statusCode).toBe(404);
    const own = await grace.get('/privacy/receipts');
    expect(own.statusCode).toBe(200);
    expect(own.body).toContain('You have no receipts yet.');

    const anonymous = await new WebClient(t).get('/privacy/receipts');
    expect(anonymous.statusCode).toBe(303);
  });
});
