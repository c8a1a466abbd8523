const DEFAULT_MAX_MS = 6 * 3_600_000;

/**
 * Exponential backoff with equal jitter: half of `baseMs · 2^(attempt-1)` fixed, half random,
 * capped at `maxMs`. The jitter spreads retries of work that failed together (an endpoint or
 * a database that was down) so they do not all come back at the same instant.
 */
export function backoffDelayMs(
  attempt: number,
  baseMs: number,
  random: () => number = Math.random,
  maxMs = DEFAULT_MAX_MS,
): number {
  const exponential = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exponential / 2 + (random() * exponential) / 2);
}
