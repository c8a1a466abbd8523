import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Type, { type Static } from 'typebox';
import { ISO_COUNTRIES } from '../geo/countries.js';
import { strictAjv } from '../validation.js';
import { REGIMES, type RegimeTable, type WorkingCalendar } from './deadline.model.js';

const CalendarFile = Type.Object({
  $comment: Type.Optional(Type.String()),
  defaultRegime: Type.Enum([...REGIMES]),
  regimes: Type.Record(Type.String({ pattern: '^[A-Z]{2}$' }), Type.Enum([...REGIMES])),
  weekend: Type.Array(Type.Integer({ minimum: 0, maximum: 6 }), { maxItems: 6, uniqueItems: true }),
  holidays: Type.Array(Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' })),
});

export const DEFAULT_DSR_CALENDAR_FILE = fileURLToPath(
  new URL('../../config/dsr-calendar.json', import.meta.url),
);

const validate = strictAjv.compile<Static<typeof CalendarFile>>(CalendarFile);

export interface DsrCalendar {
  regimes: RegimeTable;
  calendar: WorkingCalendar;
}

/** The operator's regime table and working calendar (config/dsr-calendar.json), checked at start. */
export function loadDsrCalendar(path: string = DEFAULT_DSR_CALENDAR_FILE): DsrCalendar {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`Cannot read the DSR calendar ${path}: ${(error as Error).message}`);
  }
  if (!validate(parsed)) {
    const first = validate.errors?.[0];
    throw new Error(`DSR calendar ${path} is invalid at ${first?.instancePath || '/'}: ${first?.message}`);
  }
  const unknown = Object.keys(parsed.regimes).filter((c) => !ISO_COUNTRIES.has(c));
  if (unknown.length > 0)
    throw new Error(`DSR calendar ${path} names codes that are not ISO 3166-1: ${unknown.join(', ')}`);
  return {
    regimes: { defaultRegime: parsed.defaultRegime, countries: parsed.regimes },
    calendar: { weekend: parsed.weekend, holidays: new Set(parsed.holidays) },
  };
}
