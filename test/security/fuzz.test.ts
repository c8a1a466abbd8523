import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN_SCOPE, CONSENT_HUB_SCOPE } from '../../src/auth/scopes.js';
import { basic, createTestApp, createToken } from '../helpers/app.js';
import { connectJwt, importExample, oauthToken, SECRETS, unsignedJwt } from '../helpers/directory.js';

/**
 * Property-based requests to every route the OpenAPI description lists, generated from
 * its own schemas: mostly well-formed values, with hostile ones mixed in (U+0000, lone
 * surrogates, numbers beyond a double, a leap second, wrong types, unknown properties,
 * missing fields), sent with the route's credentials, with none, or with broken ones.
 * No answer may be a 5xx, and every 4xx has the error shape. Runs are bounded per route
 * and the seed is fixed (CUSTOS_FUZZ_SEED explores others); fast-check prints the seed
 * and the shrunk counterexample of a failure.
 */
const SEED = Number(process.env.CUSTOS_FUZZ_SEED ?? 20_261_124);
const RUNS_PER_ROUTE = 30;
/** Leaves of a well-formed sample replaced, one at a time, by each explicit hostile value. */
const LEAVES_PER_ROUTE = 6;

type Schema = Record<string, unknown>;
type Scheme = 'basic' | 'connectJwt' | 'oauth2';

interface Parameter {
  in: 'path' | 'query';
  name: string;
  required: boolean;
  schema: Schema;
}

interface Operation {
  method: 'GET' | 'POST';
  path: string;
  parameters: Parameter[];
  body: Schema | undefined;
  schemes: Scheme[];
}

interface FuzzRequest {
  path: Record<string, unknown>;
  query: Record<string, unknown>;
  body: unknown;
  /** The route's own credentials, none, or a broken Authorization header. */
  credentials: Scheme | 'none' | { header: string };
}

/** A number JSON can write but a double cannot hold (1e309) or JSON.stringify cannot write (-0). */
class RawNumber {
  constructor(readonly text: string) {}
  toJSON(): string {
    return `@@raw:${this.text}@@`;
  }
  toString(): string {
    return this.text;
  }
}

const NUL = '\u0000';
const HOSTILE_TEXT = [
  NUL,
  `a${NUL}b`,
  '\ud800',
  'x\udfff',
  'end\ud83d',
  '\udc00\ud800',
  '2026-12-31T23:59:60Z',
  '',
  ' ',
  '%00',
  '9'.repeat(400),
  'ö😀',
  "' or 1=1 --",
];
const HOSTILE_NUMBERS = ['1e309', '-1e309', '1e400', '-0', '9007199254740993', '1e20', '0.5'].map(
  (text) => new RawNumber(text),
);
const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...HOSTILE_TEXT),
  fc.constantFrom(...HOSTILE_NUMBERS),
  fc.jsonValue({ maxDepth: 2 }),
);

// Every feature switched on, so that every route answers from its own rules: the relay, for
// one, answers 503 without mail and a public URL (nothing listens on this mail port: the
// deliveries the fuzzer's valid requests queue fail and retry in the background).
const t = await createTestApp({
  CUSTOS_SMTP_URL: 'smtp://127.0.0.1:9',
  CUSTOS_PUBLIC_URL: 'https://custos.test',
});
await importExample(t);
const basicToken = await createToken(t, {
  email: 'fuzz@operator.test',
  scopes: [ADMIN_SCOPE, CONSENT_HUB_SCOPE],
});
const bearer = await oauthToken(t, 'timesheets', SECRETS.timesheetsClient);
afterAll(() => t.close());

function operationsOf(doc: { paths: Record<string, Record<string, Schema>> }): Operation[] {
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => {
      const content = (op.requestBody as { content?: Record<string, { schema: Schema }> } | undefined)
        ?.content;
      const security = (op.security as Record<string, unknown>[] | undefined) ?? [];
      return {
        method: method.toUpperCase() as Operation['method'],
        path,
        parameters: (op.parameters as Parameter[] | undefined) ?? [],
        body: content?.['application/json']?.schema,
        schemes: security.flatMap((s) => Object.keys(s)) as Scheme[],
      };
    }),
  );
}

function stringOf(schema: Schema): fc.Arbitrary<string> {
  switch (schema.format) {
    case 'email':
      return fc.emailAddress();
    case 'uri':
      return fc.webUrl();
    case 'hostname':
      return fc.domain();
    case 'date-time':
      return fc
        .date({
          min: new Date('1970-01-01T00:00:00Z'),
          max: new Date('2100-01-01T00:00:00Z'),
          noInvalidDate: true,
        })
        .map((d) => d.toISOString());
  }
  if (typeof schema.pattern === 'string') return fc.stringMatching(new RegExp(schema.pattern));
  const minLength = Number(schema.minLength ?? 0);
  const maxLength = Math.max(minLength, Math.min(Number(schema.maxLength ?? 24), 24));
  return fc.oneof(
    fc.string({ minLength, maxLength }),
    fc.string({ minLength, maxLength, unit: 'grapheme' }),
    fc.string({ minLength, maxLength, unit: 'binary' }),
  );
}

function objectOf(schema: Schema, fuzz: boolean): fc.Arbitrary<Record<string, unknown>> {
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  const model = Object.fromEntries(Object.entries(properties).map(([k, s]) => [k, valueFor(s, fuzz)]));
  const required = ((schema.required ?? []) as string[]).filter((k) => k in model);
  const complete = fc.record(model, { requiredKeys: required });
  if (!fuzz) return complete;
  return fc.oneof(
    { weight: 6, arbitrary: complete },
    { weight: 1, arbitrary: fc.record(model, { requiredKeys: [] }) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(complete, fc.string({ maxLength: 8 }), hostile)
        .map(([o, key, value]) => ({ ...o, [key]: value })),
    },
  );
}

/** A value the schema describes; when fuzzing, with hostile values inside. */
function wellFormed(schema: Schema, fuzz: boolean): fc.Arbitrary<unknown> {
  if ('const' in schema) return fc.constant(schema.const);
  if (Array.isArray(schema.enum)) return fc.constantFrom(...schema.enum);
  const union = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  if (union) return fc.oneof(...union.map((s) => valueFor(s, fuzz)));
  switch (schema.type) {
    case 'string':
      return stringOf(schema);
    case 'integer':
      return fc.integer({ min: Number(schema.minimum ?? -1000), max: Number(schema.maximum ?? 100_000) });
    case 'number':
      return fc.double({
        min: Number(schema.minimum ?? -1e6),
        max: Number(schema.maximum ?? 1e6),
        noNaN: true,
      });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(valueFor((schema.items ?? {}) as Schema, fuzz), {
        minLength: Math.min(Number(schema.minItems ?? 0), 3),
        maxLength: Math.min(Number(schema.maxItems ?? 3), 3),
      });
    case 'object':
      return objectOf(schema, fuzz);
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** When fuzzing, mostly what the schema describes and now and then anything at all. */
function valueFor(schema: Schema, fuzz: boolean): fc.Arbitrary<unknown> {
  const valid = wellFormed(schema, fuzz);
  return fuzz ? fc.oneof({ weight: 6, arbitrary: valid }, { weight: 1, arbitrary: hostile }) : valid;
}

const BROKEN_CREDENTIALS = [
  basic(`fuzz${NUL}@operator.test`, basicToken.token),
  // Another email than the valid credentials': failures counted per email never slow those.
  basic('guess@operator.test', 'cst_wrong'),
  `JWT ${unsignedJwt({ iss: NUL, iat: 0, exp: 9_999_999_999, qsh: 'x' })}`,
  `JWT ${unsignedJwt({ iss: '\ud800' })}`,
  'Bearer not.a.token',
  'Basic !!!',
];

function requestsFor(op: Operation): fc.Arbitrary<FuzzRequest> {
  const params = (where: Parameter['in']) => {
    const list = op.parameters.filter((p) => p.in === where);
    return fc.record(Object.fromEntries(list.map((p) => [p.name, valueFor(p.schema, true)])), {
      requiredKeys: list.filter((p) => p.in === 'path' || p.required).map((p) => p.name),
    });
  };
  const credentials: fc.Arbitrary<FuzzRequest['credentials']> =
    op.schemes.length === 0
      ? fc.constant('none')
      : fc.oneof(
          { weight: 5, arbitrary: fc.constantFrom(...op.schemes) },
          { weight: 1, arbitrary: fc.constant('none' as const) },
          { weight: 1, arbitrary: fc.constantFrom(...BROKEN_CREDENTIALS).map((header) => ({ header })) },
        );
  return fc.record({
    path: params('path'),
    query: params('query'),
    body: op.body ? valueFor(op.body, true) : fc.constant(undefined),
    credentials,
  });
}

/** A request whose every part is what the schemas describe. */
function wellFormedRequest(
  op: Operation,
  credentials: FuzzRequest['credentials'],
): fc.Arbitrary<FuzzRequest> {
  const params = (where: Parameter['in']) =>
    fc.record(
      Object.fromEntries(
        op.parameters.filter((p) => p.in === where).map((p) => [p.name, wellFormed(p.schema, false)]),
      ),
    );
  return fc.record({
    path: params('path'),
    query: params('query'),
    body: op.body ? wellFormed(op.body, false) : fc.constant(undefined),
    credentials: fc.constant(credentials),
  });
}

/** Query and path text as a client would send it; a lone surrogate goes as its (invalid) UTF-8 bytes. */
function encode(value: string): string {
  return [...value]
    .map((ch) => {
      const unit = ch.charCodeAt(0);
      if (ch.length > 1 || unit < 0xd800 || unit > 0xdfff) return encodeURIComponent(ch);
      return [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)]
        .map((b) => `%${b.toString(16).toUpperCase()}`)
        .join('');
    })
    .join('');
}

const asText = (value: unknown) =>
  typeof value === 'string' || value instanceof RawNumber ? String(value) : JSON.stringify(value);

function urlOf(op: Operation, request: FuzzRequest): string {
  const path = op.path.replace(/\{(\w+)\}/g, (_m, name: string) => encode(asText(request.path[name])));
  const query = Object.entries(request.query).flatMap(([name, value]) =>
    (Array.isArray(value) ? value : [value]).map((v) => `${encode(name)}=${encode(asText(v))}`),
  );
  return query.length > 0 ? `${path}?${query.join('&')}` : path;
}

function authorizationFor(op: Operation, url: string, request: FuzzRequest): string | undefined {
  const { credentials } = request;
  if (typeof credentials === 'object') return credentials.header;
  switch (credentials) {
    case 'none':
      return undefined;
    case 'basic':
      return basic('fuzz@operator.test', basicToken.token);
    case 'oauth2':
      return `Bearer ${bearer}`;
    case 'connectJwt':
      try {
        return `JWT ${connectJwt('ts-acme-1', SECRETS.tsAcme, op.method, url)}`;
      } catch {
        // A URL the JWT library cannot read: the request goes without credentials.
        return undefined;
      }
  }
}

function payloadOf(body: unknown): string | undefined {
  if (body === undefined) return undefined;
  return JSON.stringify(body).replace(/"@@raw:([^@]+)@@"/g, '$1');
}

function send(op: Operation, request: FuzzRequest): Promise<LightMyRequestResponse> {
  const url = urlOf(op, request);
  const authorization = authorizationFor(op, url, request);
  const payload = payloadOf(request.body);
  return t.app.inject({
    method: op.method,
    url,
    headers: {
      ...(authorization ? { authorization } : {}),
      ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(payload === undefined ? {} : { payload }),
  });
}

const isText = (value: unknown) => typeof value === 'string';

/** No 5xx; a 4xx carries the route's error body. */
function expectAnswered(op: Operation, res: LightMyRequestResponse) {
  const what = `${op.method} ${op.path} → ${res.statusCode} ${res.body.slice(0, 300)}`;
  expect(res.statusCode, what).toBeLessThan(500);
  if (res.statusCode < 400) return;
  expect(res.headers['content-type'], what).toMatch(/^application\/json/);
  const body = res.json() as Record<string, unknown>;
  const keys = Object.keys(body).sort();
  if (op.path.includes('report-accounts')) {
    // The contract's error body, exactly.
    expect(keys, what).toEqual(['errorMessage', 'errorType']);
  } else if (op.path === '/oauth/token' && 'error' in body) {
    // RFC 6749 §5.2.
    expect(
      isText(body.error) && (body.error_description === undefined || isText(body.error_description)),
      what,
    ).toBe(true);
    expect(
      keys.every((k) => k === 'error' || k === 'error_description'),
      what,
    ).toBe(true);
    return;
  } else {
    expect(
      keys.every((k) => ['errorMessage', 'errorType', 'field'].includes(k)),
      what,
    ).toBe(true);
    expect(body.field === undefined || isText(body.field), what).toBe(true);
  }
  expect(isText(body.errorType) && isText(body.errorMessage), what).toBe(true);
}

/** Paths to the scalar leaves of a value, outermost first, arrays by index. */
function leavesOf(value: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value)) return value.flatMap((v, i) => leavesOf(v, [...at, i]));
  if (typeof value === 'object' && value !== null)
    return Object.entries(value).flatMap(([k, v]) => leavesOf(v, [...at, k]));
  return [at];
}

function replaced(value: unknown, path: (string | number)[], leaf: unknown): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return leaf;
  const copy = (Array.isArray(value) ? [...value] : { ...(value as object) }) as Record<
    string | number,
    unknown
  >;
  copy[head] = replaced(copy[head], rest, leaf);
  return copy;
}

function schemaAt(schema: Schema | undefined, path: (string | number)[]): Schema | undefined {
  let node = schema;
  for (const step of path) {
    if (!node) return undefined;
    node = (typeof step === 'number' ? node.items : (node.properties as Record<string, Schema>)?.[step]) as
      | Schema
      | undefined;
  }
  return node;
}

const isNumeric = (schema: Schema | undefined) => schema?.type === 'integer' || schema?.type === 'number';

/**
 * The explicit cases: each parameter and body leaf of a well-formed request, replaced by
 * each of these, must be refused where `refused` says so (and never be a 5xx anywhere).
 */
const EXPLICIT: { value: unknown; refused: (schema: Schema | undefined, inUrl: boolean) => boolean }[] = [
  { value: NUL, refused: () => true },
  { value: `p${NUL}`, refused: () => true },
  // In a URL a lone surrogate can only travel as invalid UTF-8: refused, or read as U+FFFD.
  { value: 'p\ud800', refused: (_schema, inUrl) => !inUrl },
  { value: '\udc00', refused: (_schema, inUrl) => !inUrl },
  // In a URL these are text, which a string parameter may hold; no body field takes them.
  ...['1e309', '-1e309', '1e400'].map((text) => ({
    value: new RawNumber(text),
    refused: (schema: Schema | undefined, inUrl: boolean) => !inUrl || isNumeric(schema),
  })),
  { value: '2026-12-31T23:59:60Z', refused: (schema: Schema | undefined) => schema?.format === 'date-time' },
];

const operations = operationsOf(
  t.app.swagger() as unknown as { paths: Record<string, Record<string, Schema>> },
);

describe.each(operations.map((op) => ({ ...op, name: `${op.method} ${op.path}` })))('fuzz: $name', (op) => {
  it(`answers ${RUNS_PER_ROUTE} generated requests without a 5xx, each error in the error shape`, async () => {
    await fc.assert(
      fc.asyncProperty(requestsFor(op), async (request) => expectAnswered(op, await send(op, request))),
      { seed: SEED, numRuns: RUNS_PER_ROUTE },
    );
  });

  it('refuses U+0000, lone surrogates, numbers beyond a double and leap seconds with a 4xx', async () => {
    // A request the app accepts, if the schema yields one soon: then the hostile value
    // is the only thing wrong with each request below.
    const credentials = op.schemes[0] ?? 'none';
    const candidates = fc.sample(wellFormedRequest(op, credentials), { seed: SEED, numRuns: 40 });
    let base = candidates[0] as FuzzRequest;
    for (const candidate of candidates) {
      const res = await send(op, candidate);
      expectAnswered(op, res);
      if (res.statusCode < 300) {
        base = candidate;
        break;
      }
    }
    const urlLeaves = op.parameters.map((p) => [p.in, p.name] as const);
    const bodyLeaves = base.body === undefined ? [] : leavesOf(base.body).slice(0, LEAVES_PER_ROUTE);
    for (const { value, refused } of EXPLICIT) {
      for (const [where, name] of urlLeaves) {
        const schema = op.parameters.find((p) => p.name === name)?.schema;
        const res = await send(op, { ...base, [where]: { ...base[where], [name]: value } });
        expectAnswered(op, res);
        if (refused(schema, true))
          expect(res.statusCode, `${name}=${asText(value)} → ${res.body}`).toBeGreaterThanOrEqual(400);
      }
      for (const leaf of bodyLeaves) {
        const res = await send(op, { ...base, body: replaced(base.body, leaf, value) });
        expectAnswered(op, res);
        if (refused(schemaAt(op.body, leaf), false))
          expect(res.statusCode, `${leaf.join('.')}: ${asText(value)} → ${res.body}`).toBeGreaterThanOrEqual(
            400,
          );
      }
    }
  });
});
