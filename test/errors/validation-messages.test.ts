import Type from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { problemsOf, strictAjv } from '../../src/validation.js';
import { createConsentTestApp, type TestApp } from '../helpers/app.js';
import { adminClient } from '../helpers/directory.js';

/** Validation errors read as sentences about the field, never as the schema's internals. */
let t: TestApp;
let auth: string;
let admin: string;

beforeAll(async () => {
  ({ t, auth } = await createConsentTestApp());
  admin = await adminClient(t);
});
afterAll(() => t.close());

async function consentError(body: Record<string, unknown>) {
  const res = await t.app.inject({
    method: 'POST',
    url: '/consent-hub/consent',
    headers: { authorization: auth },
    payload: { email: 'a@example.org', locale: 'US', ...body },
  });
  expect(res.statusCode).toBe(400);
  return res.json() as { errorMessage: string; field: string };
}

function configError(env: Record<string, string>): string {
  try {
    loadConfig({ DATABASE_URL: 'sqlite::memory:', ...env });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('the configuration was accepted');
}

describe('validation messages', () => {
  it.each([
    [{ formUrl: 'ftp://files.example.com/form' }, 'formUrl must be an absolute http(s) URL'],
    [{ formUrl: 'not a url' }, 'formUrl must be an absolute http(s) URL'],
    [{ locale: 'USA' }, 'locale must be an ISO 3166-1 alpha-2 country code or UNKNOWN'],
    [{ email: 'nobody' }, 'email must be an email address'],
    [{ email: undefined }, 'email is required'],
    [{ colour: 'blue' }, 'colour is not an allowed property'],
    [{ providerId: '' }, 'providerId must not be empty'],
    [{ providerId: 'x'.repeat(256) }, 'providerId must be at most 255 characters'],
    [{ consents: [{ key: 'k', granted: 'yes' }] }, 'consents.0.granted must be true or false'],
    [{ consents: {} }, 'consents must be an array'],
  ])('a consent body %j is answered "%s"', async (body, message) => {
    expect((await consentError(body)).errorMessage).toBe(message);
  });

  it('lists the allowed values of an enum, and says what a number must be', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/admin/email-access/requests?status=pending&limit=0',
      headers: { authorization: admin },
    });
    expect(res.json().errorMessage).toBe(
      'status must be one of submitted, auto-approved, auto-rejected, in-review, approved, rejected, revoked; limit must be at least 1',
    );
  });

  it('reports a union of literals as its allowed values, once', () => {
    const validate = strictAjv.compile(
      Type.Object({ mode: Type.Union([Type.Literal('public'), Type.Literal('private')]) }),
    );
    expect(validate({ mode: 'secret' })).toBe(false);
    expect(problemsOf(validate.errors ?? [])).toEqual([
      { path: ['mode'], message: 'must be one of public, private' },
    ]);
  });

  it('names configuration problems in words', () => {
    expect(configError({ LOG_LEVEL: 'loud' })).toBe(
      'Invalid configuration: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent',
    );
    expect(configError({ DATABASE_URL: 'mysql://db/custos', PORT: 'eighty' })).toBe(
      'Invalid configuration: DATABASE_URL must start with sqlite: or postgres://; PORT must be a whole number',
    );
    expect(configError({ CUSTOS_TRUST_PROXY: 'maybe' })).toBe(
      'Invalid configuration: CUSTOS_TRUST_PROXY must be true or false',
    );
  });

  it('every pattern a route accepts says in words what it means', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const unexplained: string[] = [];
    const patterns: string[] = [];
    const walk = (node: unknown, where: string) => {
      if (Array.isArray(node)) {
        for (const [i, n] of node.entries()) walk(n, `${where}/${i}`);
      } else if (typeof node === 'object' && node !== null) {
        const schema = node as Record<string, unknown>;
        if (typeof schema.pattern === 'string') {
          patterns.push(where);
          if (typeof schema.errorMessage !== 'string') unexplained.push(where);
        }
        for (const [key, value] of Object.entries(schema)) walk(value, `${where}/${key}`);
      }
    };
    walk(doc.paths, '');
    expect(patterns.length).toBeGreaterThan(10);
    expect(unexplained).toEqual([]);
  });
});
