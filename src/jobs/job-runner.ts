import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Database } from '../db/dialect.js';
import { backoffDelayMs } from '../shared/backoff.js';
import type { WorkerTask } from '../worker/worker.js';
import {
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_RETRY_BASE_MS,
  type JobDefinition,
  type JobPayload,
  MAX_RETRY_DELAY_MS,
} from './job.model.js';
import * as repo from './job.repository.js';

/** How a run ended: `interrupted` by a graceful stop (run again at once), `lease-lost` to another worker. */
export type RunOutcome = 'succeeded' | 'retrying' | 'failed' | 'interrupted' | 'lease-lost';

export interface JobRunnerOptions {
  /**
   * How long a run may go without renewing its lease before another worker assumes its
   * worker died and runs the job again. The runner renews it every third of this.
   */
  leaseMs: number;
  onRun?: (name: string, outcome: RunOutcome, seconds: number) => void;
}

const STOPPING = 'stopping';
const LEASE_LOST = 'lease lost';

function errorMessage(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 1000);
}

function parsePayload(text: string): JobPayload {
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error('the job payload is not a JSON object');
  return value as JobPayload;
}

/**
 * Runs the registered jobs, one at a time per process, as a worker task. Each call: insert the
 * latest due time of every scheduled job (unique per name and due time, so across processes
 * each due time becomes one row), then claim the oldest due job under a lease and run it.
 * Missed due times are not replayed: after downtime, only the latest one runs.
 */
export class JobRunner {
  /** This process in `lease_holder`: host, pid and a random part (pids repeat across restarts). */
  readonly holder = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly byName = new Map<string, JobDefinition>();
  private readonly names: string[];
  /** The due time last inserted per scheduled job: each is inserted once per process. */
  private readonly scheduled = new Map<string, string>();
  private current: AbortController | undefined;
  private stopping = false;

  constructor(
    private readonly database: Database,
    private readonly definitions: readonly JobDefinition[],
    private readonly options: JobRunnerOptions,
    private readonly log: Logger,
  ) {
    for (const definition of definitions) {
      if (this.byName.has(definition.name)) throw new Error(`job ${definition.name} is registered twice`);
      this.byName.set(definition.name, definition);
    }
    this.names = [...this.byName.keys()];
  }

  task(): WorkerTask {
    return { name: 'jobs', runOnce: () => this.runOnce(), stop: () => this.interrupt() };
  }

  /** Runs at most one due job; returns 1 if it did. */
  async runOnce(): Promise<number> {
    if (this.stopping) return 0;
    const now = new Date();
    await this.insertDueTimes(now);
    const at = now.toISOString();
    if (!(await repo.hasDueJob(this.database.db, this.names, at))) return 0;
    const job = await repo.claimDueJob(this.database, this.names, this.holder, at, this.leaseUntil());
    if (!job) return 0;
    await this.execute(job);
    return 1;
  }

  /** A graceful stop: the run under way ends early and is released; nothing more is claimed. */
  interrupt(): void {
    this.stopping = true;
    this.current?.abort(STOPPING);
  }

  private leaseUntil(): string {
    return new Date(Date.now() + this.options.leaseMs).toISOString();
  }

  private async insertDueTimes(now: Date): Promise<void> {
    for (const definition of this.definitions) {
      if (!definition.schedule) continue;
      const due = definition.schedule.latestDue(now).toISOString();
      if (this.scheduled.get(definition.name) === due) continue;
      await repo.insertJob(
        this.database.db,
        { name: definition.name, key: due, payload: '{}', runAt: due },
        now.toISOString(),
      );
      this.scheduled.set(definition.name, due);
    }
  }

  private async execute(job: repo.Job): Promise<void> {
    const definition = this.byName.get(job.name) as JobDefinition;
    const maxAttempts = definition.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    const db = this.database.db;
    if (job.attempts > maxAttempts) {
      // Only a job whose lease ran out every time gets here: its worker died on each run.
      const error = `${job.last_error ?? 'lease ran out'}; gave up after ${maxAttempts} attempts`;
      await repo.markFailed(db, job.id, this.holder, error, new Date().toISOString());
      this.log.error({ job: job.name, jobId: job.id }, 'job failed: its runs never finished');
      this.options.onRun?.(job.name, 'failed', 0);
      return;
    }
    const controller = new AbortController();
    this.current = controller;
    let settled = false;
    const heartbeat = setInterval(async () => {
      try {
        const kept = await repo.renewLease(
          db,
          job.id,
          this.holder,
          this.leaseUntil(),
          new Date().toISOString(),
        );
        if (!kept && !settled && !controller.signal.aborted) {
          this.log.warn(
            { job: job.name, jobId: job.id },
            'job lease lost to another worker; stopping this run',
          );
          controller.abort(LEASE_LOST);
        }
      } catch (error) {
        this.log.warn({ job: job.name, jobId: job.id, err: error }, 'could not renew a job lease');
      }
    }, this.options.leaseMs / 3);
    const started = performance.now();
    let outcome: RunOutcome;
    try {
      let result: Awaited<ReturnType<JobDefinition['run']>>;
      let failure: { error: unknown } | undefined;
      try {
        result = await definition.run({
          id: job.id,
          name: job.name,
          key: job.key,
          payload: parsePayload(job.payload),
          attempt: job.attempts,
          signal: controller.signal,
        });
      } catch (error) {
        failure = { error };
      } finally {
        settled = true;
      }
      const now = new Date().toISOString();
      if (controller.signal.aborted) {
        outcome = controller.signal.reason === STOPPING ? 'interrupted' : 'lease-lost';
        if (outcome === 'interrupted') await repo.release(db, job.id, this.holder, now);
      } else if (failure) {
        outcome = await this.retryOrFail(job, definition, failure.error, now);
      } else {
        await repo.markSucceeded(db, job.id, this.holder, result ? JSON.stringify(result) : null, now);
        outcome = 'succeeded';
      }
    } finally {
      clearInterval(heartbeat);
      this.current = undefined;
    }
    this.options.onRun?.(job.name, outcome, (performance.now() - started) / 1000);
  }

  private async retryOrFail(
    job: repo.Job,
    definition: JobDefinition,
    error: unknown,
    now: string,
  ): Promise<RunOutcome> {
    const message = errorMessage(error);
    const maxAttempts = definition.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    const fields = { job: job.name, jobId: job.id, attempt: job.attempts, err: error };
    if (job.attempts >= maxAttempts) {
      await repo.markFailed(this.database.db, job.id, this.holder, message, now);
      this.log.error(fields, 'job failed; no attempts left');
      return 'failed';
    }
    const delay = backoffDelayMs(
      job.attempts,
      definition.retryBaseMs ?? DEFAULT_RETRY_BASE_MS,
      Math.random,
      MAX_RETRY_DELAY_MS,
    );
    const runAt = new Date(Date.parse(now) + delay).toISOString();
    await repo.markRetry(this.database.db, job.id, this.holder, runAt, message, now);
    this.log.warn({ ...fields, retryAt: runAt }, 'job failed; retrying');
    return 'retrying';
  }
}
