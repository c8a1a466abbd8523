import { vi } from 'vitest';

export interface UntilOptions {
  /** How long to keep asking before failing; generous, for a loaded machine. */
  timeoutMs?: number;
  /** The pause between two asks. */
  intervalMs?: number;
  /** What is awaited, named in the error on timeout. */
  message?: string;
}

const TIMED_OUT = 'Timed out in waitUntil!';

/**
 * Asks `predicate` until it answers with a truthy value and resolves with that value. Fails
 * after `timeoutMs` with an error naming `message`; an error the predicate throws fails at
 * once. An asynchronous predicate is never asked again while its last answer is pending.
 */
export async function until<T>(
  predicate: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 20, message = 'the condition' }: UntilOptions = {},
) {
  try {
    return await vi.waitUntil(predicate, { timeout: timeoutMs, interval: intervalMs });
  } catch (error) {
    if ((error as Error).message === TIMED_OUT)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${message}`);
    throw error;
  }
}

/** A promise and the function that resolves it: one side waits, the other says when. */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}
