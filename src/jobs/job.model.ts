/**
 * What a durable job is, independent of storage: a definition each domain registers (a
 * handler and an optional schedule), and the run a handler receives. Pure: no database.
 */

/** A job's input, stored as JSON: ids and settings, never personal data. */
export type JobPayload = Record<string, unknown>;

/** What a run reports back, kept on the job row for operators: counts and flags, no PD. */
export type JobResult = Record<string, number | string | boolean>;

export interface JobRun {
  id: number;
  name: string;
  /** The due time (ISO 8601) for a scheduled run; the enqueuer's key otherwise. */
  key: string;
  payload: JobPayload;
  /** 1 for the first run, 2 for the first retry, … */
  attempt: number;
  /**
   * Aborted when the run must end early: the worker is stopping, or its lease was lost to
   * another worker. Long handlers check it between bounded steps and return; the job is then
   * run again (handlers are idempotent).
   */
  signal: AbortSignal;
}

/** When a scheduled job comes due. */
export interface Schedule {
  /** The latest due time at or before `now`: each one is run once. */
  latestDue(now: Date): Date;
  /** For listings: "every 3600 s", "daily at 09:00 UTC". */
  readonly description: string;
}

export interface JobDefinition {
  /** `<domain>.<what>`, e.g. `consent.inbox-cleanup`; unique across the registry. */
  name: string;
  /**
   * Does the work. Must be idempotent: a worker that dies mid-run leaves a lease that runs
   * out, and the job is run again from the start. Throwing retries the job with backoff.
   */
  run(job: JobRun): Promise<JobResult | undefined>;
  /** Without a schedule, the job runs when something enqueues it. */
  schedule?: Schedule;
  /** Runs (first one included) before the job is marked failed; default 5. */
  maxAttempts?: number;
  /** First retry delay; doubles per attempt, with jitter, up to an hour. Default 30 s. */
  retryBaseMs?: number;
}

export const DEFAULT_MAX_ATTEMPTS = 5;
export const DEFAULT_RETRY_BASE_MS = 30_000;
export const MAX_RETRY_DELAY_MS = 3_600_000;

/**
 * Every `ms`, aligned to the Unix epoch (not to the process start), so every process agrees
 * on the due times: a 3600 s interval is due on the hour.
 */
export function every(ms: number): Schedule {
  if (!Number.isInteger(ms) || ms < 1000)
    throw new Error('a schedule interval is a whole number of ms ≥ 1000');
  return {
    description: `every ${ms / 1000} s`,
    latestDue: (now) => new Date(Math.floor(now.getTime() / ms) * ms),
  };
}

const DAY_MS = 86_400_000;

/** Once a day at `HH:MM` UTC. */
export function dailyAt(time: string): Schedule {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(time);
  if (!match) throw new Error(`a daily time is HH:MM (UTC), got ${time}`);
  const offsetMs = (Number(match[1]) * 60 + Number(match[2])) * 60_000;
  return {
    description: `daily at ${time} UTC`,
    latestDue(now) {
      const dayStart = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
      const today = dayStart + offsetMs;
      return new Date(today <= now.getTime() ? today : today - DAY_MS);
    },
  };
}
