/**
 * When a data-subject request must be answered: pure calendar arithmetic over UTC dates
 * (`YYYY-MM-DD`), no clock and no database, so every rule is a row in a table-driven test.
 * The rules are described in docs/legal-rules.md#art-123-time-limit-for-answering-a-request.
 */

export const REGIMES = ['gdpr', 'ccpa'] as const;
export type Regime = (typeof REGIMES)[number];

/** A calendar date, `YYYY-MM-DD`, read as a UTC day. */
export type CalendarDate = string;

/** Which days are not working days: weekdays (0 Sunday … 6 Saturday) and public holidays. */
export interface WorkingCalendar {
  weekend: readonly number[];
  holidays: ReadonlySet<CalendarDate>;
}

export const DEFAULT_CALENDAR: WorkingCalendar = { weekend: [0, 6], holidays: new Set() };

const DAY_MS = 86_400_000;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

function parts(date: CalendarDate): [number, number, number] {
  const m = DATE_RE.exec(date);
  if (!m) throw new Error(`not a calendar date: ${date}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

function fromUtc(ms: number): CalendarDate {
  return new Date(ms).toISOString().slice(0, 10);
}

function toUtc(date: CalendarDate): number {
  const [y, m, d] = parts(date);
  return Date.UTC(y, m - 1, d);
}

/** The UTC calendar date of an instant. */
export function dateOf(instant: string | Date): CalendarDate {
  return (typeof instant === 'string' ? new Date(instant) : instant).toISOString().slice(0, 10);
}

export function addDays(date: CalendarDate, days: number): CalendarDate {
  return fromUtc(toUtc(date) + days * DAY_MS);
}

/** Whole days from `from` to `to` (negative when `to` is earlier). */
export function daysBetween(from: CalendarDate, to: CalendarDate): number {
  return Math.round((toUtc(to) - toUtc(from)) / DAY_MS);
}

/**
 * The same date `months` calendar months later; where that month is shorter, its last day
 * (31 January + 1 month = 28 or 29 February).
 */
export function addCalendarMonths(date: CalendarDate, months: number): CalendarDate {
  const [y, m, d] = parts(date);
  const lastDay = new Date(Date.UTC(y, m - 1 + months + 1, 0)).getUTCDate();
  return fromUtc(Date.UTC(y, m - 1 + months, Math.min(d, lastDay)));
}

export function isWorkingDay(date: CalendarDate, calendar: WorkingCalendar): boolean {
  return !calendar.weekend.includes(new Date(toUtc(date)).getUTCDay()) && !calendar.holidays.has(date);
}

/** The date itself when it is a working day, else the next one. */
export function nextWorkingDay(date: CalendarDate, calendar: WorkingCalendar): CalendarDate {
  let day = date;
  // A calendar where no day works would loop forever; a year of closed days is a broken table.
  for (let i = 0; i < 366; i++) {
    if (isWorkingDay(day, calendar)) return day;
    day = addDays(day, 1);
  }
  throw new Error('the working calendar has no working day within a year');
}

/** `days` working days after `date` (the day itself not counted). */
export function addWorkingDays(date: CalendarDate, days: number, calendar: WorkingCalendar): CalendarDate {
  let day = date;
  for (let left = days; left > 0; ) {
    day = addDays(day, 1);
    if (isWorkingDay(day, calendar)) left--;
  }
  return day;
}

/** GDPR art. 12(3): one month, extendable by two further months. */
export const GDPR_MONTHS = 1;
export const GDPR_MAX_EXTENSION_MONTHS = 2;
/** Cal. Code Regs. tit. 11 §7021: acknowledge in 10 business days, answer in 45 days, one 45-day extension. */
export const CCPA_ACK_BUSINESS_DAYS = 10;
export const CCPA_DAYS = 45;
export const CCPA_EXTENSION_DAYS = 45;

export interface DeadlineInput {
  regime: Regime;
  /** When the request was received. */
  receivedAt: string;
  /** When the requester's identity was verified; null while it is awaited. */
  verifiedAt: string | null;
  /**
   * A request made by a person signed in to their own account needs no further identity
   * check; one made by anyone else on their behalf does, and under the GDPR its clock starts
   * only once the identity is verified (the ICO's reading of art. 12(6)).
   */
  needsVerification: boolean;
  /** GDPR: months added (1 or 2); CCPA: days added (45). 0 when not extended. */
  extension: number;
}

export interface Deadlines {
  /** The day the clock started, or null while it waits for identity verification. */
  clockStart: CalendarDate | null;
  /** The answer is due by the end of this day (UTC); null while the clock has not started. */
  due: CalendarDate | null;
  /** The due date without any extension: extensions must be decided before it passes. */
  originalDue: CalendarDate | null;
  /** CCPA: the receipt must be acknowledged by this day. */
  acknowledgeBy: CalendarDate | null;
}

export function computeDeadlines(input: DeadlineInput, calendar: WorkingCalendar): Deadlines {
  const received = dateOf(input.receivedAt);
  if (input.regime === 'ccpa') {
    // §7021(b): 45 calendar days from receipt, whatever time verification takes.
    const originalDue = addDays(received, CCPA_DAYS);
    return {
      clockStart: received,
      originalDue,
      due: addDays(originalDue, input.extension),
      acknowledgeBy: addWorkingDays(received, CCPA_ACK_BUSINESS_DAYS, calendar),
    };
  }
  const start = input.needsVerification
    ? input.verifiedAt === null
      ? null
      : dateOf(input.verifiedAt)
    : received;
  if (start === null) return { clockStart: null, due: null, originalDue: null, acknowledgeBy: null };
  return {
    clockStart: start,
    originalDue: nextWorkingDay(addCalendarMonths(start, GDPR_MONTHS), calendar),
    due: nextWorkingDay(addCalendarMonths(start, GDPR_MONTHS + input.extension), calendar),
    acknowledgeBy: null,
  };
}

export type ExtensionCheck = { ok: true; extension: number } | { ok: false; reason: string };

/**
 * Whether the request may be extended by `amount` (GDPR: months; CCPA: days) on `today`.
 * GDPR art. 12(3): by at most two further months in all, decided and told within the first
 * month. CCPA §7021(b): once, by 45 days, with notice before the first 45 days end.
 */
export function checkExtension(
  input: DeadlineInput,
  amount: number,
  today: CalendarDate,
  calendar: WorkingCalendar,
): ExtensionCheck {
  const { originalDue } = computeDeadlines(input, calendar);
  if (originalDue === null)
    return { ok: false, reason: 'the deadline has not started: the identity is not yet verified' };
  if (today > originalDue)
    return {
      ok: false,
      reason: `an extension must be decided within the first period, which ended on ${originalDue}`,
    };
  if (input.regime === 'ccpa') {
    if (input.extension > 0) return { ok: false, reason: 'a CCPA request may be extended only once' };
    if (amount !== CCPA_EXTENSION_DAYS)
      return { ok: false, reason: `a CCPA extension is ${CCPA_EXTENSION_DAYS} days` };
    return { ok: true, extension: CCPA_EXTENSION_DAYS };
  }
  if (!Number.isInteger(amount) || amount < 1)
    return { ok: false, reason: 'a GDPR extension is one or two whole months' };
  const total = input.extension + amount;
  if (total > GDPR_MAX_EXTENSION_MONTHS)
    return {
      ok: false,
      reason: `a GDPR request may be extended by at most ${GDPR_MAX_EXTENSION_MONTHS} further months in all`,
    };
  return { ok: true, extension: total };
}

/** Days left until the end of the due day (0 on the due day itself, negative when overdue). */
export function daysLeft(due: CalendarDate, today: CalendarDate): number {
  return daysBetween(today, due);
}

/**
 * Whether less than a quarter of the time allowed is left: the console colours these. An
 * overdue request is always short of time.
 */
export function isShortOfTime(d: Deadlines, today: CalendarDate): boolean {
  if (d.due === null || d.clockStart === null) return false;
  const total = Math.max(1, daysBetween(d.clockStart, d.due));
  return daysLeft(d.due, today) < total * 0.25;
}

/** The regime of an account's country: the table's entry, or the default. */
export interface RegimeTable {
  defaultRegime: Regime;
  countries: Readonly<Record<string, Regime>>;
}

export function regimeOf(country: string | null, table: RegimeTable): Regime {
  if (country === null) return table.defaultRegime;
  return table.countries[country.toUpperCase()] ?? table.defaultRegime;
}

/**
 * The country of an account as the directory knows it: the region of its locale
 * (`en-US`, `en_GB` → `US`, `GB`), or null when the locale names none.
 */
export function countryOfLocale(locale: string | null): string | null {
  if (!locale) return null;
  const m = /^[a-zA-Z]{2,3}[-_]([a-zA-Z]{2})(?:$|[-_.@])/.exec(locale);
  return m ? (m[1] as string).toUpperCase() : null;
}
