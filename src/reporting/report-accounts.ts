import { AppError } from '../errors/app-error.js';

/** Reference §2: at most 90 accounts per request. */
export const MAX_REPORTED_ACCOUNTS = 90;

const ACCOUNT_ID = /^[A-Za-z0-9:-]{1,128}$/;
/** RFC 3339 date-time (§5.6): full date, 'T', time with optional fraction, mandatory offset. */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$/;

export interface ReportedAccount {
  accountId: string;
  /** When the app retrieved the account's PD, in ms since the epoch. */
  retrievedMs: number;
}

function invalid(message: string): AppError {
  return new AppError('VALIDATION_FAILED', message);
}

export function parseRfc3339(value: string): number | undefined {
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  const n = (i: number) => Number(m[i]);
  const month = n(2);
  if (month < 1 || month > 12 || n(3) < 1 || n(4) > 23 || n(5) > 59 || n(6) > 60) return undefined;
  if (m[9] !== undefined && (n(9) > 23 || n(10) > 59)) return undefined;
  // Date.UTC rolls Feb 30 over to March: a date that does not round-trip does not exist.
  if (new Date(Date.UTC(n(1), month - 1, n(3))).getUTCMonth() !== month - 1) return undefined;
  const ms = Date.parse(value.toUpperCase());
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * Reads a report-accounts body by the contract (reference §2), naming the first problem.
 * An account reported twice in one request counts once, at its oldest `updatedAt`: the
 * oldest retrieval is the one that may be stale (the contract's own rule for several pieces).
 */
export function parseReport(body: unknown): ReportedAccount[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalid('The body must be a JSON object with an accounts array');
  const extra = Object.keys(body).find((k) => k !== 'accounts');
  if (extra !== undefined) throw invalid(`Unknown property: ${extra}`);
  const list = (body as { accounts?: unknown }).accounts;
  if (!Array.isArray(list)) throw invalid('accounts must be an array');
  if (list.length === 0) throw invalid('accounts must not be empty');
  if (list.length > MAX_REPORTED_ACCOUNTS)
    throw invalid(`accounts must hold at most ${MAX_REPORTED_ACCOUNTS} entries (got ${list.length})`);
  const merged = new Map<string, number>();
  list.forEach((item: unknown, i) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      throw invalid(`accounts[${i}] must be an object`);
    const { accountId, updatedAt, ...rest } = item as Record<string, unknown>;
    const unknown = Object.keys(rest)[0];
    if (unknown !== undefined) throw invalid(`accounts[${i}]: unknown property ${unknown}`);
    if (typeof accountId !== 'string' || !ACCOUNT_ID.test(accountId))
      throw invalid(`accounts[${i}].accountId must be 1-128 characters of A-Z a-z 0-9 - :`);
    // Reference §2: apps must never report the reserved id `unknown`.
    if (accountId === 'unknown')
      throw invalid(`accounts[${i}].accountId must not be the reserved id unknown`);
    const ms = typeof updatedAt === 'string' ? parseRfc3339(updatedAt) : undefined;
    if (ms === undefined) throw invalid(`accounts[${i}].updatedAt must be an RFC 3339 date-time`);
    const seen = merged.get(accountId);
    merged.set(accountId, seen === undefined ? ms : Math.min(seen, ms));
  });
  return [...merged].map(([accountId, retrievedMs]) => ({ accountId, retrievedMs }));
}
