import { Ajv, type AnySchemaObject, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

/**
 * The two JSON Schema validators Custos uses. Bodies are validated strictly: no type
 * coercion (a JSON `"true"` is not a boolean) and unknown properties are refused rather
 * than silently dropped. Query strings, params and environment variables are text on the
 * wire, so their validator coerces types and wraps single values into arrays.
 *
 * Every schema compiled here also refuses values that no engine can store, whatever the
 * schema's author wrote (see `storable`), and reads `date-time` as a time JavaScript can
 * represent. `verbose` keeps each error's schema, so messages can be written in words.
 */
const common: Options = {
  allErrors: true,
  strict: false,
  removeAdditional: false,
  useDefaults: true,
  verbose: true,
};

/**
 * U+0000 and unpaired UTF-16 surrogates. JSON can carry both (`"\u0000"`, `"\ud800"`);
 * PostgreSQL text cannot hold U+0000, and a lone surrogate has no UTF-8 encoding, so the
 * same input would be stored by one engine and refused (or mangled) by the other. In
 * Unicode mode `\p{Cs}` matches only surrogates that are not part of a pair.
 */
const LONE_SURROGATE = /\p{Cs}/u;

export function isStorableText(value: string): boolean {
  return !value.includes('\u0000') && !LONE_SURROGATE.test(value);
}

const STORABLE = 'storable';
export const UNSTORABLE_TEXT_MESSAGE = 'must not contain U+0000 or an unpaired UTF-16 surrogate';

/**
 * The first of `fields` whose value is not storable text, for input read outside a schema
 * (credentials in headers); undefined when every value is fine.
 */
export function unstorableField(fields: Record<string, string>): string | undefined {
  return Object.keys(fields).find((name) => !isStorableText(fields[name] as string));
}

/** RFC 3339 §5.6 date-time: full date, 'T', time with optional fraction, mandatory offset. */
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/** The Gregorian calendar repeats every 400 years: 146,097 days. */
const FOUR_CENTURIES_MS = 146_097 * 86_400_000;

/**
 * The first and last instants of years 0000-9999 (UTC). Custos stores instants as
 * `toISOString` text and compares that text as it compares times; outside these years
 * `toISOString` writes six digits and a sign (`+010000-…`, `-000001-…`), which sorts before
 * every other year. So a date-time whose instant falls outside them is refused, even when
 * its own text says 9999 or 0000 (`9999-12-31T23:59:59-01:00` is in year 10000).
 */
const FIRST_INSTANT_MS = Date.UTC(2000, 0, 1) - 5 * FOUR_CENTURIES_MS;
const LAST_INSTANT_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

const isLeapYear = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * An RFC 3339 date-time as ms since the epoch, or undefined when it is not one or names a
 * time JavaScript cannot represent: a leap second (`23:59:60`) is valid RFC 3339 but has
 * no `Date`, so it is refused here rather than failing later. A date that does not exist
 * (Feb 30) is refused too, and so is an instant outside years 0000-9999 UTC (see
 * FIRST_INSTANT_MS): every RFC 3339 input passes here, by the `date-time` format or directly. The fraction is cut to milliseconds. Computed from the parts,
 * with no `Date` made, and the canonical form read without the regular expression: a
 * report of 90 accounts reads 90 of these.
 */
export function parseRfc3339(value: string): number | undefined {
  if (isCanonicalInstant(value)) {
    const ms = instant(
      digits(value, 0, 4),
      digits(value, 5, 7),
      digits(value, 8, 10),
      digits(value, 11, 13),
      digits(value, 14, 16),
      digits(value, 17, 19),
      digits(value, 20, 23),
      0,
    );
    if (ms !== undefined && value[4] === '-' && value[7] === '-' && value[13] === ':' && value[16] === ':')
      return ms;
    return undefined;
  }
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  let offsetMinutes = 0;
  if (m[8] !== undefined) {
    const offsetHours = Number(m[9]);
    const offsetMins = Number(m[10]);
    if (offsetHours > 23 || offsetMins > 59) return undefined;
    offsetMinutes = (m[8] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMins);
  }
  const fraction = m[7];
  const millis =
    fraction === undefined
      ? 0
      : Number(fraction.length >= 3 ? fraction.slice(0, 3) : fraction.padEnd(3, '0'));
  const n = (i: number) => Number(m[i]);
  return instant(n(1), n(2), n(3), n(4), n(5), n(6), millis, offsetMinutes);
}

/** The decimal number in `text` from `start` to `end`; -1 when a character is not a digit. */
function digits(text: string, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** ms since the epoch of a date and time at `offsetMinutes` from UTC; undefined when the date or time does not exist. */
function instant(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  millis: number,
  offsetMinutes: number,
): number | undefined {
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59 || millis < 0)
    return undefined;
  // Date.UTC reads years 0-99 as 1900-1999: shift by four centuries, which changes nothing else.
  const ms =
    Date.UTC(year + 400, month - 1, day, hour, minute, second, millis) -
    FOUR_CENTURIES_MS -
    offsetMinutes * 60_000;
  return ms < FIRST_INSTANT_MS || ms > LAST_INSTANT_MS ? undefined : ms;
}

/** The words for what a date-time must be, for messages outside a schema. */
export const DATE_TIME_WORDS = 'an RFC 3339 date-time of years 0000-9999 (UTC) such as 2026-11-24T09:30:00Z';

/**
 * The canonical text of the instant `ms` that RFC 3339 `value` names, as `toISOString`
 * writes it (`2026-12-02T03:10:11.639Z`): `value` itself when it already is (what
 * JavaScript clients send), so that most values are not formatted again. Canonical texts of
 * years 0000-9999 sort as their instants do, and parseRfc3339 answers no other instant.
 */
export function canonicalInstant(value: string, ms: number): string {
  return isCanonicalInstant(value) ? value : new Date(ms).toISOString();
}

/** Whether `text`, already known to be an RFC 3339 date-time, has the canonical form (UTC, 3-digit fraction). */
export function isCanonicalInstant(text: string): boolean {
  return text.length === 24 && text[10] === 'T' && text[19] === '.' && text[23] === 'Z';
}

/** An absolute http(s) URL: `format: uri` alone also admits mailto:, urn: and the like. */
export const HTTP_URL_RULE = {
  format: 'uri',
  pattern: '^[Hh][Tt][Tt][Pp][Ss]?://',
  maxLength: 2048,
  errorMessage: 'must be an absolute http(s) URL',
};

/** A page cursor: the `nextCursor` a previous page returned. */
export const PAGE_CURSOR_RULE = {
  pattern: '^[0-9]{1,18}$',
  errorMessage: 'must be the nextCursor of a previous page',
};

function createAjv(options: Options): Ajv {
  const ajv = new Ajv({ ...common, ...options });
  addFormats.default(ajv);
  ajv.addFormat('date-time', { type: 'string', validate: (value) => parseRfc3339(value) !== undefined });
  // Runs after type coercion, so a query's `1e309` is seen as the Infinity it became.
  ajv.addKeyword({
    keyword: STORABLE,
    type: ['string', 'number'],
    schemaType: 'boolean',
    errors: false,
    validate: (_enabled: boolean, data: string | number) =>
      typeof data === 'string' ? isStorableText(data) : Number.isFinite(data),
  });
  return ajv;
}

const SUBSCHEMA = [
  'additionalItems',
  'additionalProperties',
  'contains',
  'else',
  'if',
  'items',
  'not',
  'propertyNames',
  'then',
  'unevaluatedItems',
  'unevaluatedProperties',
];
const SUBSCHEMA_LISTS = ['allOf', 'anyOf', 'items', 'oneOf', 'prefixItems'];
const SUBSCHEMA_MAPS = ['$defs', 'definitions', 'dependentSchemas', 'patternProperties', 'properties'];
const STORED_TYPES = new Set(['string', 'number', 'integer']);

const isSchema = (value: unknown): value is AnySchemaObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A copy of `schema` in which every string, number and integer schema also says `storable: true`. */
function withStorableValues(schema: AnySchemaObject): AnySchemaObject {
  const copy: AnySchemaObject = { ...schema };
  const types: unknown[] = Array.isArray(schema.type) ? schema.type : [schema.type];
  if (types.some((t) => typeof t === 'string' && STORED_TYPES.has(t))) copy[STORABLE] = true;
  for (const key of SUBSCHEMA) if (isSchema(schema[key])) copy[key] = withStorableValues(schema[key]);
  for (const key of SUBSCHEMA_LISTS)
    if (Array.isArray(schema[key]))
      copy[key] = schema[key].map((s: unknown) => (isSchema(s) ? withStorableValues(s) : s));
  for (const key of SUBSCHEMA_MAPS)
    if (isSchema(schema[key]))
      copy[key] = Object.fromEntries(
        Object.entries(schema[key]).map(([k, s]) => [k, isSchema(s) ? withStorableValues(s) : s]),
      );
  return copy;
}

export interface Validator {
  compile<T = unknown>(schema: object): ValidateFunction<T>;
}

/**
 * One compiled copy per schema object: Fastify compiles a schema shared by several routes
 * once per route, and Ajv recognises a schema it has seen only by identity.
 */
function validator(ajv: Ajv): Validator {
  const prepared = new WeakMap<object, AnySchemaObject>();
  return {
    compile<T>(schema: object): ValidateFunction<T> {
      let copy = prepared.get(schema);
      if (!copy) {
        copy = withStorableValues(schema as AnySchemaObject);
        prepared.set(schema, copy);
      }
      return ajv.compile<T>(copy);
    },
  };
}

export const strictAjv = validator(createAjv({ coerceTypes: false }));
export const coercingAjv = validator(createAjv({ coerceTypes: 'array' }));

/** What a failing value should have been, in the words people use. */
const FORMAT_WORDS: Record<string, string> = {
  'date-time': DATE_TIME_WORDS,
  date: 'a date such as 2026-11-24',
  email: 'an email address',
  hostname: 'a host name such as example.com',
  ipv4: 'an IPv4 address',
  ipv6: 'an IPv6 address',
  uri: 'an absolute URI',
  uuid: 'a UUID',
};

const TYPE_WORDS: Record<string, string> = {
  array: 'an array',
  boolean: 'true or false',
  integer: 'a whole number',
  null: 'null',
  number: 'a number',
  object: 'an object',
  string: 'a string',
};

const listed = (values: unknown[]) => values.map((v) => String(v)).join(', ');
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * A schema may say in words what its `pattern` (or `format`) asks for, as `errorMessage`:
 * the rest of a sentence that starts with the field's name.
 */
function inWords(error: ErrorObject): string | undefined {
  const words = error.parentSchema?.errorMessage;
  return typeof words === 'string' ? words : undefined;
}

function describe(error: ErrorObject): string {
  const p = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not an allowed property';
    case STORABLE:
      return typeof error.data === 'number' ? 'must be a finite number' : UNSTORABLE_TEXT_MESSAGE;
    case 'type':
      return `must be ${String(p.type)
        .split(',')
        .map((t) => TYPE_WORDS[t] ?? t)
        .join(' or ')}`;
    case 'enum':
      return `must be one of ${listed(p.allowedValues as unknown[])}`;
    case 'const':
      return `must be ${String(p.allowedValue)}`;
    case 'pattern':
      return inWords(error) ?? `must match the pattern ${String(p.pattern)}`;
    case 'format':
      return inWords(error) ?? `must be ${FORMAT_WORDS[String(p.format)] ?? `a valid ${String(p.format)}`}`;
    case 'minLength':
      return p.limit === 1 ? 'must not be empty' : `must be at least ${plural(Number(p.limit), 'character')}`;
    case 'maxLength':
      return `must be at most ${plural(Number(p.limit), 'character')}`;
    case 'minItems':
      return `must have at least ${plural(Number(p.limit), 'item')}`;
    case 'maxItems':
      return `must have at most ${plural(Number(p.limit), 'item')}`;
    case 'uniqueItems':
      return `must not repeat an item (items ${String(p.j)} and ${String(p.i)} are the same)`;
    case 'minimum':
      return `must be at least ${String(p.limit)}`;
    case 'maximum':
      return `must be at most ${String(p.limit)}`;
    case 'exclusiveMinimum':
      return `must be greater than ${String(p.limit)}`;
    case 'exclusiveMaximum':
      return `must be less than ${String(p.limit)}`;
    default:
      return error.message ?? 'is invalid';
  }
}

/** The allowed values when every branch of an anyOf/oneOf is a constant (a union of literals). */
function constantsOf(branches: unknown): unknown[] | undefined {
  if (!Array.isArray(branches)) return undefined;
  const values: unknown[] = [];
  for (const branch of branches) {
    if (!isSchema(branch)) return undefined;
    if ('const' in branch) values.push(branch.const);
    else if (Array.isArray(branch.enum)) values.push(...branch.enum);
    else return undefined;
  }
  return values;
}

export interface Problem {
  /** Where in the validated value: property names and array indexes, outermost first. */
  path: string[];
  message: string;
}

/**
 * Ajv's errors as problems a person can act on, one per field and message, in order. A
 * union of literals reports its allowed values once instead of one error per branch;
 * other unions report their branches, which say more than the summary.
 */
export function problemsOf(errors: readonly ErrorObject[]): Problem[] {
  const unions = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
  const problems: Problem[] = [];
  const seen = new Set<string>();
  const add = (error: ErrorObject, message: string) => {
    const path = error.instancePath.split('/').filter(Boolean);
    const extra = error.params.missingProperty ?? error.params.additionalProperty;
    if (typeof extra === 'string') path.push(extra);
    const key = JSON.stringify([path, message]);
    if (!seen.has(key)) problems.push({ path, message });
    seen.add(key);
  };
  for (const error of errors) {
    if (error.keyword === 'anyOf' || error.keyword === 'oneOf') {
      const values = constantsOf(error.schema);
      if (values) add(error, `must be one of ${listed(values)}`);
      continue;
    }
    const inUnion = unions.some(
      (u) => constantsOf(u.schema) && error.schemaPath.startsWith(`${u.schemaPath}/`),
    );
    if (!inUnion) add(error, describe(error));
  }
  return problems;
}
