import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OAUTH_ERROR_CODES } from '../../src/auth/oauth.service.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { importExample, SECRETS } from '../helpers/directory.js';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
  await importExample(t);
});
afterAll(() => t.close());

const FORM = 'application/x-www-form-urlencoded';

function token(payload: string | object | undefined, headers: Record<string, string> = {}) {
  return t.app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers,
    ...(payload === undefined ? {} : { payload }),
  });
}

/** RFC 6749 §5.2: exactly {error, error_description}, a known code, a description in the allowed characters, never cached. */
function expectTokenError(
  res: Awaited<ReturnType<typeof token>>,
  status: number,
  error: (typeof OAUTH_ERROR_CODES)[number],
) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.headers['cache-control']).toBe('no-store');
  const body = res.json();
  expect(Object.keys(body).sort()).toEqual(['error', 'error_description']);
  expect(body.error).toBe(error);
  expect(body.error_description).toMatch(/^[\x20-\x21\x23-\x5B\x5D-\x7E]+$/);
  return body.error_description as string;
}

describe('POST /oauth/token errors are RFC 6749 §5.2 shaped', () => {
  it('malformed JSON → 400 invalid_request', async () => {
    const res = await token('{"grant_type": "client_credentials",', { 'content-type': 'application/json' });
    expectTokenError(res, 400, 'invalid_request');
  });

  it('an empty JSON body → 400 invalid_request', async () => {
    expectTokenError(await token('', { 'content-type': 'application/json' }), 400, 'invalid_request');
  });

  it('no body at all → 400 invalid_request', async () => {
    expectTokenError(await token(undefined), 400, 'invalid_request');
  });

  it('an unsupported content type → 415 invalid_request naming the accepted types', async () => {
    const res = await token('grant_type=client_credentials', { 'content-type': 'text/plain' });
    const description = expectTokenError(res, 415, 'invalid_request');
    expect(description).toContain(FORM);
    expect(description).toContain('application/json');
  });

  it('an oversized body → 413 invalid_request', async () => {
    const res = await token(`grant_type=client_credentials&scope=${'a'.repeat(70_000)}`, {
      'content-type': FORM,
    });
    expectTokenError(res, 413, 'invalid_request');
  });

  it.each([
    ['a number for client_id', { client_id: 42 }, 'client_id'],
    ['an overlong client_id', { client_id: 'c'.repeat(256) }, 'client_id'],
    ['an overlong secret', { client_id: 'timesheets', client_secret: 's'.repeat(513) }, 'client_secret'],
  ])('a validation failure (%s) → 400 invalid_request naming the field', async (_name, body, field) => {
    const res = await token({ grant_type: 'client_credentials', ...body });
    expect(expectTokenError(res, 400, 'invalid_request')).toContain(field);
  });

  it('a body that is not an object → 400 invalid_request', async () => {
    expectTokenError(await token('[1,2]', { 'content-type': 'application/json' }), 400, 'invalid_request');
  });

  it('no grant_type → 400 invalid_request; another grant type → 400 unsupported_grant_type', async () => {
    const missing = await token({ client_id: 'mailer', client_secret: SECRETS.mailerClient });
    expect(expectTokenError(missing, 400, 'invalid_request')).toContain('grant_type');
    const password = await token(
      `grant_type=password&client_id=mailer&client_secret=${SECRETS.mailerClient}`,
      {
        'content-type': FORM,
      },
    );
    expectTokenError(password, 400, 'unsupported_grant_type');
  });

  it('failed client authentication → 401 invalid_client with a Basic challenge, by body or by Basic', async () => {
    const byBody = await token({
      grant_type: 'client_credentials',
      client_id: 'mailer',
      client_secret: 'wrong',
    });
    expectTokenError(byBody, 401, 'invalid_client');
    expect(byBody.headers['www-authenticate']).toBe('Basic realm="custos"');
    const byBasic = await token(
      { grant_type: 'client_credentials' },
      { authorization: `Basic ${Buffer.from('mailer:wrong').toString('base64')}` },
    );
    expectTokenError(byBasic, 401, 'invalid_client');
    expect(byBasic.headers['www-authenticate']).toBe('Basic realm="custos"');
    expectTokenError(await token({ grant_type: 'client_credentials' }), 401, 'invalid_client');
  });

  it('a scope the client may not have → 400 invalid_scope', async () => {
    const res = await token({
      grant_type: 'client_credentials',
      client_id: 'mailer',
      client_secret: SECRETS.mailerClient,
      scope: 'report:personal-data',
    });
    expectTokenError(res, 400, 'invalid_scope');
  });

  it('a fault → 500 server_error, its details only in the log', async () => {
    const spy = vi
      .spyOn(t.ctx.oauth, 'issueClientCredentialsToken')
      .mockRejectedValueOnce(new Error('driver detail "quoted"'));
    try {
      const res = await token({ grant_type: 'client_credentials', client_id: 'mailer', client_secret: 'x' });
      expect(expectTokenError(res, 500, 'server_error')).not.toContain('driver detail');
      expect(t.logs.some((line) => line.includes('driver detail'))).toBe(true);
    } finally {
      spy.mockRestore();
    }
  });

  it('still issues tokens from a form body, with no-store', async () => {
    const res = await token(
      new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: 'mailer',
        client_secret: SECRETS.mailerClient,
      }).toString(),
      { 'content-type': FORM },
    );
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it.each([
    ['client_id', 'grant_type=client_credentials&client_id=mailer&client_id=timesheets&client_secret=x'],
    ['client_secret', 'grant_type=client_credentials&client_id=mailer&client_secret=a&client_secret=b'],
    ['grant_type', 'grant_type=refresh_token&grant_type=client_credentials&client_id=mailer'],
    ['scope', 'grant_type=client_credentials&client_id=mailer&client_secret=x&scope=&scope=read%3Auser'],
  ])(
    'a repeated %s → 400 invalid_request naming it (RFC 6749 §3.2), before any client is checked',
    async (name, form) => {
      const res = await token(form, { 'content-type': FORM });
      expect(expectTokenError(res, 400, 'invalid_request')).toBe(`${name} is repeated`);
      expect(res.headers['cache-control']).toBe('no-store');
    },
  );

  it('a repeated parameter is refused even when both values are the right ones', async () => {
    const once = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: 'mailer',
      client_secret: SECRETS.mailerClient,
    }).toString();
    const res = await token(`${once}&client_secret=${encodeURIComponent(SECRETS.mailerClient)}`, {
      'content-type': FORM,
    });
    expect(expectTokenError(res, 400, 'invalid_request')).toBe('client_secret is repeated');
  });

  it('declares every error response in the OpenAPI description', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const responses = doc.paths['/oauth/token'].post.responses;
    for (const status of ['400', '401', '413', '415', '429', '500']) {
      const schema = responses[status]?.content?.['application/json']?.schema;
      expect(schema, status).toBeDefined();
      expect(Object.keys(schema.properties).sort()).toEqual(['error', 'error_description']);
      expect(schema.properties.error.enum).toEqual([...OAUTH_ERROR_CODES]);
    }
  });
});
