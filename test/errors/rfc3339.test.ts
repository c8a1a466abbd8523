import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalInstant, isCanonicalInstant, parseRfc3339 } from '../../src/validation.js';

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** What the parts name, by `Date`'s own calendar: the oracle the arithmetic parser is held to. */
function expectedMs(p: Parts): number | undefined {
  const date = new Date(0);
  date.setUTCFullYear(p.year, p.month - 1, p.day);
  if (date.getUTCMonth() !== p.month - 1) return undefined; // Feb 30 rolled over: no such date
  date.setUTCHours(p.hour, p.minute, p.second, Number(p.fraction.slice(0, 3).padEnd(3, '0')));
  const ms = date.getTime() - p.offsetSign * (p.offsetHours * 60 + p.offsetMinutes) * 60_000;
  // Only instants of years 0000-9999 (UTC): their canonical text sorts as time.
  const year = new Date(ms).getUTCFullYear();
  return year < 0 || year > 9999 ? undefined : ms;
}

interface Parts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  fraction: string;
  utc: 'Z' | 'z' | '';
  offsetSign: 1 | -1;
  offsetHours: number;
  offsetMinutes: number;
  t: 'T' | 't';
}

const parts: fc.Arbitrary<Parts> = fc.record({
  year: fc.integer({ min: 0, max: 9999 }),
  month: fc.integer({ min: 1, max: 12 }),
  day: fc.integer({ min: 1, max: 31 }),
  hour: fc.integer({ min: 0, max: 23 }),
  minute: fc.integer({ min: 0, max: 59 }),
  second: fc.integer({ min: 0, max: 59 }),
  fraction: fc.oneof(fc.constant(''), fc.stringMatching(/^[0-9]{1,12}$/)),
  utc: fc.constantFrom('Z' as const, 'z' as const, '' as const),
  offsetSign: fc.constantFrom(1 as const, -1 as const),
  offsetHours: fc.integer({ min: 0, max: 23 }),
  offsetMinutes: fc.integer({ min: 0, max: 59 }),
  t: fc.constantFrom('T' as const, 't' as const),
});

function format(p: Parts): string {
  const offset =
    p.utc || `${p.offsetSign > 0 ? '+' : '-'}${pad(p.offsetHours, 2)}:${pad(p.offsetMinutes, 2)}`;
  const fraction = p.fraction ? `.${p.fraction}` : '';
  return `${pad(p.year, 4)}-${pad(p.month, 2)}-${pad(p.day, 2)}${p.t}${pad(p.hour, 2)}:${pad(p.minute, 2)}:${pad(p.second, 2)}${fraction}${offset}`;
}

describe('RFC 3339 date-times', () => {
  it('reads every valid date-time as the instant Date computes for its parts, and refuses dates that do not exist', () => {
    fc.assert(
      fc.property(parts, (p) => {
        const utcParts = p.utc ? { ...p, offsetHours: 0, offsetMinutes: 0 } : p;
        expect(parseRfc3339(format(p))).toBe(expectedMs(utcParts));
      }),
      { numRuns: 5000 },
    );
  });

  it('gives the canonical text of each instant, the input itself when it already is', () => {
    fc.assert(
      fc.property(parts, (p) => {
        const text = format(p);
        const ms = parseRfc3339(text);
        if (ms === undefined) return;
        const canonical = canonicalInstant(text, ms);
        expect(canonical).toBe(new Date(ms).toISOString());
        expect(isCanonicalInstant(canonical), canonical).toBe(true);
        if (isCanonicalInstant(text)) expect(canonical).toBe(text);
      }),
      { numRuns: 5000 },
    );
  });

  it.each([
    ['2026-12-02T03:10:11.639Z', Date.UTC(2026, 11, 2, 3, 10, 11, 639)],
    ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    ['0000-02-29T00:00:00.000Z', Date.parse('0000-02-29T00:00:00.000Z')],
    ['2026-01-01T00:00:00.5-05:30', Date.UTC(2026, 0, 1, 5, 30, 0, 500)],
    ['2026-01-01T00:00:00.99999999Z', Date.UTC(2026, 0, 1, 0, 0, 0, 999)],
    ['0000-01-01T00:00:00Z', Date.parse('0000-01-01T00:00:00.000Z')],
    ['0000-01-01T01:00:00+01:00', Date.parse('0000-01-01T00:00:00.000Z')],
    ['9999-12-31T23:59:59.999Z', Date.parse('9999-12-31T23:59:59.999Z')],
    ['9999-12-31T23:00:00-00:59', Date.parse('9999-12-31T23:59:00.000Z')],
  ])('reads %s', (text, ms) => {
    expect(parseRfc3339(text)).toBe(ms);
  });

  it.each([
    '2023-02-29T00:00:00Z', // not a leap year
    '1900-02-29T00:00:00.000Z', // a century, not a leap year
    '2026-12-31T23:59:60Z', // leap second: no Date for it
    '2026-13-01T00:00:00.000Z',
    '2026-12-01T24:00:00.000Z',
    '2026-12-01T00:00:00+24:00',
    '2026-12-01T00:00:00', // no offset
    '2026-12-01 00:00:00Z',
    '2026-1a-01T00:00:00.000Z', // the canonical shape, not digits
    '+026-12-01T00:00:00.000Z',
    '2026/12/01T00:00:00.000Z',
    '2026-12-01T00:00:00.000Z ',
    // Instants outside years 0000-9999: toISOString would write +010000-… or -000001-…
    '9999-12-31T23:59:59-01:00',
    '9999-12-31T23:59:59.999-00:01',
    '0000-01-01T00:00:00+00:01',
    '0000-01-01T00:59:59.999+01:00',
  ])('refuses %s', (text) => {
    expect(parseRfc3339(text)).toBeUndefined();
  });
});
