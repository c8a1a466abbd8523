import { describe, expect, it } from 'vitest';
import {
  addCalendarMonths,
  checkExtension,
  computeDeadlines,
  countryOfLocale,
  DEFAULT_CALENDAR,
  type DeadlineInput,
  isShortOfTime,
  regimeOf,
  type WorkingCalendar,
} from '../../src/dsr/deadline.model.js';

/** Weekends plus two fixed holidays, as an operator's calendar file would list them. */
const CALENDAR: WorkingCalendar = {
  weekend: [0, 6],
  holidays: new Set(['2026-12-25', '2026-12-28', '2027-01-01']),
};

const gdpr = (receivedAt: string, extra: Partial<DeadlineInput> = {}): DeadlineInput => ({
  regime: 'gdpr',
  receivedAt,
  verifiedAt: null,
  needsVerification: false,
  extension: 0,
  ...extra,
});

describe('one calendar month (the ICO rule)', () => {
  const rows: [string, string][] = [
    ['2026-01-31', '2026-02-28'],
    ['2028-01-31', '2028-02-29'], // a leap year
    ['2026-03-31', '2026-04-30'],
    ['2026-01-15', '2026-02-15'],
    ['2026-12-31', '2027-01-31'],
    ['2026-02-28', '2026-03-28'],
  ];
  for (const [from, to] of rows) {
    it(`${from} + 1 month = ${to}`, () => expect(addCalendarMonths(from, 1)).toBe(to));
  }
});

describe('GDPR due dates', () => {
  const rows: { name: string; received: string; due: string; calendar?: WorkingCalendar }[] = [
    {
      name: '31 January → 28 February (a Saturday) → Monday 2 March',
      received: '2026-01-31T10:00:00Z',
      due: '2026-03-02',
    },
    {
      name: '31 January 2028 → 29 February (a Tuesday)',
      received: '2028-01-31T10:00:00Z',
      due: '2028-02-29',
    },
    { name: 'a working day stays', received: '2026-01-15T23:59:00Z', due: '2026-02-16' }, // 15 Feb 2026 is a Sunday
    { name: 'a Wednesday due date stays', received: '2026-03-04T08:00:00Z', due: '2026-04-06' }, // 4 Apr is a Saturday
    {
      name: 'Christmas and the weekend after move it to the next working day',
      received: '2026-11-25T12:00:00Z',
      due: '2026-12-29',
      calendar: CALENDAR,
    },
    {
      name: 'New Year’s Day moves to Monday 4 January',
      received: '2026-12-01T12:00:00Z',
      due: '2027-01-04',
      calendar: CALENDAR,
    },
    {
      name: 'without holidays, 25 December is a working day',
      received: '2026-11-25T12:00:00Z',
      due: '2026-12-25',
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      expect(computeDeadlines(gdpr(row.received), row.calendar ?? DEFAULT_CALENDAR).due).toBe(row.due);
    });
  }

  it('waits for identity verification when the requester was not signed in, then starts from it', () => {
    const waiting = computeDeadlines(gdpr('2026-01-05T09:00:00Z', { needsVerification: true }), CALENDAR);
    expect(waiting).toEqual({ clockStart: null, due: null, originalDue: null, acknowledgeBy: null });
    const verified = computeDeadlines(
      gdpr('2026-01-05T09:00:00Z', { needsVerification: true, verifiedAt: '2026-01-20T09:00:00Z' }),
      CALENDAR,
    );
    expect(verified.clockStart).toBe('2026-01-20');
    expect(verified.due).toBe('2026-02-20');
  });

  it('an extension of two months counts from the start, on the same rule', () => {
    const d = computeDeadlines(gdpr('2026-01-31T10:00:00Z', { extension: 2 }), CALENDAR);
    expect(d.originalDue).toBe('2026-03-02');
    expect(d.due).toBe('2026-04-30');
  });
});

describe('GDPR extensions', () => {
  const input = gdpr('2026-01-15T10:00:00Z');
  const rows: { name: string; today: string; amount: number; extension?: number; ok: boolean }[] = [
    { name: 'two months within the first month', today: '2026-02-10', amount: 2, ok: true },
    { name: 'on the last day of the first month', today: '2026-02-16', amount: 1, ok: true },
    { name: 'refused after the first month', today: '2026-02-17', amount: 1, ok: false },
    { name: 'refused beyond two months in all', today: '2026-02-01', amount: 2, extension: 1, ok: false },
    { name: 'a second month after a first', today: '2026-02-01', amount: 1, extension: 1, ok: true },
    { name: 'refused for zero months', today: '2026-02-01', amount: 0, ok: false },
  ];
  for (const row of rows) {
    it(`${row.ok ? 'allows' : 'refuses'}: ${row.name}`, () => {
      const check = checkExtension(
        { ...input, extension: row.extension ?? 0 },
        row.amount,
        row.today,
        DEFAULT_CALENDAR,
      );
      expect(check.ok).toBe(row.ok);
    });
  }

  it('refuses before the clock starts', () => {
    const check = checkExtension(
      gdpr('2026-01-15T10:00:00Z', { needsVerification: true }),
      1,
      '2026-01-16',
      DEFAULT_CALENDAR,
    );
    expect(check).toEqual({ ok: false, reason: expect.stringContaining('not yet verified') });
  });
});

describe('CCPA', () => {
  const ccpa = (extra: Partial<DeadlineInput> = {}): DeadlineInput => ({
    regime: 'ccpa',
    receivedAt: '2026-03-02T15:00:00Z', // a Monday
    verifiedAt: null,
    needsVerification: true,
    extension: 0,
    ...extra,
  });

  it('acknowledges within 10 business days and answers within 45 days of receipt', () => {
    const d = computeDeadlines(ccpa(), CALENDAR);
    expect(d.acknowledgeBy).toBe('2026-03-16');
    expect(d.due).toBe('2026-04-16');
  });

  it('verified on day 40, the answer is still due on day 45', () => {
    const d = computeDeadlines(ccpa({ verifiedAt: '2026-04-11T10:00:00Z' }), CALENDAR);
    expect(d.due).toBe('2026-04-16');
  });

  it('holidays push the acknowledgement, not the 45 calendar days', () => {
    const d = computeDeadlines(ccpa({ receivedAt: '2026-12-21T10:00:00Z' }), CALENDAR);
    expect(d.acknowledgeBy).toBe('2027-01-07');
    expect(d.due).toBe('2027-02-04');
  });

  it('extends once by 45 days, within the first 45', () => {
    expect(checkExtension(ccpa(), 45, '2026-04-10', CALENDAR)).toEqual({ ok: true, extension: 45 });
    expect(computeDeadlines(ccpa({ extension: 45 }), CALENDAR).due).toBe('2026-05-31');
    expect(checkExtension(ccpa({ extension: 45 }), 45, '2026-04-10', CALENDAR).ok).toBe(false);
    expect(checkExtension(ccpa(), 45, '2026-04-17', CALENDAR).ok).toBe(false);
    expect(checkExtension(ccpa(), 30, '2026-04-10', CALENDAR).ok).toBe(false);
  });
});

describe('regime and time left', () => {
  const table = { defaultRegime: 'gdpr' as const, countries: { US: 'ccpa' as const } };
  const rows: [string | null, string][] = [
    ['en-US', 'ccpa'],
    ['en_US', 'ccpa'],
    ['en-GB', 'gdpr'],
    ['de', 'gdpr'],
    [null, 'gdpr'],
  ];
  for (const [locale, regime] of rows) {
    it(`${locale ?? 'no locale'} → ${regime}`, () =>
      expect(regimeOf(countryOfLocale(locale), table)).toBe(regime));
  }

  it('is short of time under a quarter of the period, and when overdue', () => {
    const d = computeDeadlines(gdpr('2026-01-15T10:00:00Z'), DEFAULT_CALENDAR); // 32 days to 16 Feb
    expect(isShortOfTime(d, '2026-02-05')).toBe(false);
    expect(isShortOfTime(d, '2026-02-09')).toBe(true);
    expect(isShortOfTime(d, '2026-03-01')).toBe(true);
  });
});
