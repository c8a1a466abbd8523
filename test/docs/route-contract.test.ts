import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_CLIENT_SCOPE_NAMES, APP_SCOPE_NAMES, USER_GRANT_SCOPE_NAMES } from '../../src/auth/scopes.js';
import { createTestApp, type TestApp } from '../helpers/app.js';

/** The routes anyone may call: health, metrics, the OAuth token endpoint, the default avatar. */
const PUBLIC = [
  'GET /healthz',
  'GET /readyz',
  'GET /metrics',
  'POST /oauth/token',
  'GET /avatars/default.svg',
  // Receipts' verifying keys and the GPC support statement: for anyone, by design.
  'GET /.well-known/jwks.json',
  'GET /.well-known/gpc.json',
  // RFC 8058 one-click unsubscribe: mail clients post without credentials; the signed link is the authority.
  'POST /notifications/unsubscribe',
];

interface Operation {
  security?: Record<string, string[]>[];
  requestBody?: unknown;
  parameters?: { in: string }[];
  responses: Record<string, unknown>;
  'x-custos-scope'?: string;
  'x-custos-rate-limited'?: boolean;
}

let t: TestApp;
let operations: [string, Operation][];

beforeAll(async () => {
  t = await createTestApp();
  const doc = t.app.swagger() as unknown as { paths: Record<string, Record<string, Operation>> };
  operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]): [string, Operation] => [
      `${method.toUpperCase()} ${path}`,
      op,
    ]),
  );
});
afterAll(() => t.close());

/**
 * What a route can answer, read from its declaration as the document shows it: 400 when it
 * validates input or takes a body; 401 and 403 unless public; 429 when it checks a guessable
 * credential (HTTP Basic, Connect JWT) or has a request budget; 413 and 415 when it takes a
 * body; 500 and 503 always.
 */
function answerable(name: string, op: Operation): string[] {
  const takesBody = /^(POST|PUT|PATCH|DELETE) /.test(name);
  const schemes = (op.security ?? []).flatMap((requirement) => Object.keys(requirement));
  const statuses = ['500', '503'];
  if (takesBody || op.requestBody || (op.parameters ?? []).length > 0) statuses.push('400');
  if (op.security) statuses.push('401', '403');
  if (schemes.includes('basic') || schemes.includes('connectJwt') || op['x-custos-rate-limited'])
    statuses.push('429');
  if (takesBody) statuses.push('413', '415');
  return statuses;
}

describe('every route in the OpenAPI document', () => {
  it('is described (a sanity check of the walk below)', () => {
    expect(operations.length).toBeGreaterThan(40);
    expect(operations.map(([name]) => name)).toEqual(expect.arrayContaining(PUBLIC));
  });

  it('declares who may call it: public ones are exactly the intended few, the rest name a scheme', () => {
    const open = operations.filter(([, op]) => !op.security).map(([name]) => name);
    expect(open.sort()).toEqual([...PUBLIC].sort());
    for (const [name, op] of operations) {
      for (const requirement of op.security ?? []) {
        for (const [scheme, scopes] of Object.entries(requirement)) {
          expect(['basic', 'connectJwt', 'oauth2', 'session'], name).toContain(scheme);
          // OAuth 2.0 scopes come from the catalogue; other schemes list none (OpenAPI 3.0).
          if (scheme === 'oauth2')
            expect([...APP_SCOPE_NAMES, ...USER_GRANT_SCOPE_NAMES], name).toEqual(
              expect.arrayContaining(scopes),
            );
          else expect(scopes, name).toEqual([]);
        }
        if (requirement.basic) expect(API_CLIENT_SCOPE_NAMES, name).toContain(op['x-custos-scope']);
      }
    }
  });

  it('has a response schema for its success and for every error status it can answer', () => {
    const missing: string[] = [];
    for (const [name, op] of operations) {
      const declared = Object.keys(op.responses);
      if (!declared.some((status) => /^[23]\d\d$/.test(status))) missing.push(`${name}: no success response`);
      for (const status of answerable(name, op))
        if (!declared.includes(status)) missing.push(`${name}: ${status}`);
    }
    expect(missing).toEqual([]);
  });

  it('takes the OAuth scope list of its security scheme from the catalogue', () => {
    const doc = t.app.swagger() as unknown as {
      components: { securitySchemes: { oauth2: { flows: { clientCredentials: { scopes: object } } } } };
    };
    expect(Object.keys(doc.components.securitySchemes.oauth2.flows.clientCredentials.scopes)).toEqual(
      APP_SCOPE_NAMES,
    );
  });
});

describe('a route that breaks the rules', () => {
  it('cannot be registered without config.auth, or with OpenAPI security written by hand', async () => {
    const checked = await createTestApp(
      {},
      {
        async register(app) {
          expect(() => app.get('/undeclared', async () => 'no')).toThrow(
            'Route GET /undeclared declares no auth requirement (config.auth)',
          );
          expect(() =>
            app.get(
              '/hand-written',
              { config: { auth: { kind: 'public' } }, schema: { security: [{ basic: [] }] } },
              async () => 'no',
            ),
          ).toThrow('writes its OpenAPI security by hand');
        },
      },
    );
    await checked.close();
  });
});
