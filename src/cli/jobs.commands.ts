import type { Command } from 'commander';
import type { Config } from '../config.js';
import type { JobStatus } from '../db/schema.js';
import { AppError } from '../errors/app-error.js';
import { JOB_STATUSES, type JobView } from '../jobs/job.service.js';
import { withContext } from './context.js';

const HEADER = ['ID', 'NAME', 'KEY', 'STATUS', 'ATTEMPTS', 'RUN AT', 'FINISHED', 'OUTCOME'];

function outcome(job: JobView): string {
  if (job.status === 'running') return `leased by ${job.leaseHolder} until ${job.leaseUntil}`;
  const result = job.result
    ? Object.entries(job.result)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')
    : '';
  return [result, job.lastError ? `last error: ${job.lastError}` : ''].filter(Boolean).join('; ');
}

/** Left-aligned columns two spaces apart; the last column is not padded. */
function columns(rows: string[][]): string[] {
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

/** `custos jobs …`: the durable jobs table, as the admin API's GET /admin/jobs shows it. */
export function registerJobCommands(program: Command, config: () => Config, say: (line: string) => void) {
  const jobs = program.command('jobs').description('Inspect background jobs (clean-ups, reminders)');

  jobs
    .command('list')
    .description('Jobs, newest first: due time, state, attempts, and the result or last error')
    .option('--status <status>', `only jobs in this state: ${JOB_STATUSES.join(', ')}`)
    .option('--name <name>', 'only jobs of this name, e.g. consent.inbox-cleanup')
    .option('--limit <n>', 'at most this many', '50')
    .action(async (opts: { status?: string; name?: string; limit: string }) => {
      if (opts.status && !JOB_STATUSES.includes(opts.status as JobStatus)) {
        throw new AppError('VALIDATION_FAILED', `--status must be one of ${JOB_STATUSES.join(', ')}`);
      }
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        throw new AppError('VALIDATION_FAILED', '--limit must be a whole number from 1 to 1000');
      }
      const rows = await withContext(config(), (ctx) =>
        ctx.jobs.list({
          status: opts.status as JobStatus | undefined,
          name: opts.name,
          limit,
        }),
      );
      if (rows.length === 0) return say('No jobs');
      const table = rows.map((j) => [
        String(j.id),
        j.name,
        j.key,
        j.status,
        String(j.attempts),
        j.runAt,
        j.finishedAt ?? '-',
        outcome(j),
      ]);
      for (const line of columns([HEADER, ...table])) say(line);
    });
}
