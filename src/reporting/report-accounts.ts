import { AppError } from '../errors/app-error.js';
import { ACCOUNT_ID_PATTERN, RESERVED_ACCOUNT_ID } from '../shared/account-id.js';
import { canonicalInstant, DATE_TIME_WORDS, parseRfc3339 } from '../validation.js';

/** At most 90 accounts per request (docs/wire-contracts.md#reporting-limits). */
export const MAX_REPORTED_ACCOUNTS = 90;

const ACCOUNT_ID = new RegExp(ACCOUNT_ID_PATTERN);

export interface ReportedAccount {
  accountId: string;
  /** When the app retrieved the account's PD, in ms since the epoch. */
  retrievedMs: number;
  /** The same instant as canonical text (`toISOString`'s form), as the holdings register stores it. */
  retrievedAt: string;
}

function invalid(message: string): AppError {
  return new AppError('VALIDATION_FAILED', message);
}

/**
 * Reads a report-accounts body by the contract (docs/wire-contracts.md#reporting-request), naming
 * the first problem. An account reported twice in one request counts once, at its oldest
 * `updatedAt`: the oldest retrieval is the one that may be stale (the contract's own rule for
 * several pieces).
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
  const merged = new Map<string, { ms: number; text: string }>();
  list.forEach((item: unknown, i) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      throw invalid(`accounts[${i}] must be an object`);
    for (const key in item)
      if (key !== 'accountId' && key !== 'updatedAt')
        throw invalid(`accounts[${i}]: unknown property ${key}`);
    const { accountId, updatedAt } = item as Record<string, unknown>;
    if (typeof accountId !== 'string' || !ACCOUNT_ID.test(accountId))
      throw invalid(`accounts[${i}].accountId must be 1-128 characters of A-Z a-z 0-9 - :`);
    // Apps must never report the reserved id `unknown` (docs/wire-contracts.md#reporting-request).
    if (accountId === RESERVED_ACCOUNT_ID)
      throw invalid(`accounts[${i}].accountId must not be the reserved id ${RESERVED_ACCOUNT_ID}`);
    const ms = typeof updatedAt === 'string' ? parseRfc3339(updatedAt) : undefined;
    if (ms === undefined) throw invalid(`accounts[${i}].updatedAt must be ${DATE_TIME_WORDS}`);
    const seen = merged.get(accountId);
    if (seen === undefined || ms < seen.ms) merged.set(accountId, { ms, text: updatedAt as string });
  });
  return Array.from(merged, ([accountId, { ms, text }]) => ({
    accountId,
    retrievedMs: ms,
    retrievedAt: canonicalInstant(text, ms),
  }));
}
