import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Type, { type Static } from 'typebox';
import { ISO_COUNTRIES, UNKNOWN_LOCALE } from '../geo/countries.js';
import { strictAjv } from '../validation.js';

/**
 * Which countries require explicit marketing opt-in. The table is data
 * (config/opt-in-countries.json, docs/legal-rules.md#the-default-opt-in-table); operators
 * replace it with CUSTOS_OPT_IN_COUNTRIES_FILE. UNKNOWN always requires opt-in: failing safe.
 */
const OptInFile = Type.Object({
  description: Type.Optional(Type.String()),
  requireOptIn: Type.Array(
    Type.Object({
      code: Type.String({
        pattern: '^[A-Z]{2}$',
        errorMessage: 'must be an ISO 3166-1 alpha-2 code in capitals',
      }),
      basis: Type.Optional(Type.String()),
    }),
  ),
});

export interface OptInPolicy {
  requiresOptIn(locale: string): boolean;
  readonly countries: ReadonlySet<string>;
}

export const DEFAULT_OPT_IN_FILE = fileURLToPath(
  new URL('../../config/opt-in-countries.json', import.meta.url),
);

const validate = strictAjv.compile<Static<typeof OptInFile>>(OptInFile);

export function loadOptInPolicy(path: string = DEFAULT_OPT_IN_FILE): OptInPolicy {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`Cannot read the opt-in country table ${path}: ${(error as Error).message}`);
  }
  if (!validate(parsed)) {
    const first = validate.errors?.[0];
    throw new Error(
      `Opt-in country table ${path} is invalid at ${first?.instancePath || '/'}: ${first?.message}`,
    );
  }
  const unknown = parsed.requireOptIn.map((r) => r.code).filter((c) => !ISO_COUNTRIES.has(c));
  if (unknown.length > 0) {
    throw new Error(
      `Opt-in country table ${path} names codes that are not ISO 3166-1: ${unknown.join(', ')}`,
    );
  }
  const countries = new Set(parsed.requireOptIn.map((r) => r.code));
  return {
    countries,
    requiresOptIn: (locale) => locale === UNKNOWN_LOCALE || countries.has(locale),
  };
}
