import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../db/dialect.js';
import type { DB, JobStatus } from '../db/schema.js';
import type { JobDefinition, JobPayload } from './job.model.js';
import * as repo from './job.repository.js';

export interface EnqueueOptions {
  /** Not before this time; default now. */
  runAt?: Date;
  /**
   * Idempotency key: a second enqueue of the same job name and key (by a retried request, or
   * another process) adds nothing and returns the first job's id. Default: a fresh key.
   */
  key?: string;
}

/** A job as operators see it (the payload is left out: it is the handler's business). */
export interface JobView {
  id: number;
  name: string;
  key: string;
  status: JobStatus;
  attempts: number;
  runAt: string;
  leaseUntil: string | null;
  leaseHolder: string | null;
  lastError: string | null;
  result: Record<string, number | string | boolean> | null;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export const JOB_STATUSES: readonly JobStatus[] = ['pending', 'running', 'succeeded', 'failed'];

function toView(job: repo.Job): JobView {
  return {
    id: job.id,
    name: job.name,
    key: job.key,
    status: job.status,
    attempts: job.attempts,
    runAt: job.run_at,
    leaseUntil: job.lease_until,
    leaseHolder: job.lease_holder,
    lastError: job.last_error,
    result: job.result === null ? null : (JSON.parse(job.result) as JobView['result']),
    createdAt: job.created_at,
    updatedAt: job.updated_at,
    startedAt: job.started_at,
    finishedAt: job.finished_at,
  };
}

/** Enqueueing jobs (for domains) and reading them (for operators: admin API, CLI, metrics). */
export class JobService {
  private readonly names: ReadonlySet<string>;

  constructor(
    private readonly database: Database,
    definitions: readonly JobDefinition[] = [],
  ) {
    this.names = new Set(definitions.map((d) => d.name));
  }

  /**
   * Adds a job in the caller's transaction, so a change and the work it calls for commit
   * together (or not at all). The worker picks it up within its poll interval.
   */
  async enqueue(
    trx: Kysely<DB>,
    name: string,
    payload: JobPayload,
    options: EnqueueOptions = {},
  ): Promise<{ id: number; created: boolean }> {
    if (!this.names.has(name)) throw new Error(`no job named ${name} is registered`);
    const now = new Date().toISOString();
    return repo.insertJob(
      trx,
      {
        name,
        key: options.key ?? randomUUID(),
        payload: JSON.stringify(payload),
        runAt: options.runAt?.toISOString() ?? now,
      },
      now,
    );
  }

  /** Newest first. */
  async list(filter: repo.JobFilter): Promise<JobView[]> {
    return (await repo.listJobs(this.database.db, filter)).map(toView);
  }
}
