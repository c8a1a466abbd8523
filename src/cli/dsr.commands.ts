import type { Command } from 'commander';
import { CLI_OPERATOR } from '../audit/audit.service.js';
import type { Config } from '../config.js';
import { DSR_STATES, DSR_TYPES, type DsrState, type DsrType } from '../dsr/dsr.rules.js';
import type { DsrService, DsrView } from '../dsr/dsr.service.js';
import { AppError } from '../errors/app-error.js';
import { isValidAccountId } from '../shared/account-id.js';
import { withContext } from './context.js';

function withDsr<T>(config: Config, fn: (dsr: DsrService) => Promise<T>): Promise<T> {
  return withContext(config, (ctx) => fn(ctx.dsr));
}

function requireReason(reason: string | undefined): string {
  if (!reason?.trim())
    throw new AppError('VALIDATION_FAILED', 'Give the reason with --reason "…"', { field: 'reason' });
  return reason;
}

function requireId(id: string): string {
  if (!/^dsr_[0-9a-f]{32}$/.test(id))
    throw new AppError('VALIDATION_FAILED', `${id} is not a request id (dsr_…)`, { field: 'id' });
  return id;
}

const line = (r: DsrView) =>
  [
    r.id,
    r.type,
    r.regime,
    r.state,
    `owner ${r.owner}`,
    r.dueOn ? `due ${r.dueOn} (${r.daysLeft} days left)` : 'clock not started',
    r.attentionReason ? `! ${r.attentionReason}` : '',
  ]
    .filter(Boolean)
    .join('  ');

/**
 * `custos dsr …`: data-subject requests at the command line, through the service the admin API
 * (`/admin/dsr/…`) and the console call. Custos's own steps are run by a worker.
 */
export function registerDsrCommands(program: Command, config: () => Config, say: (line: string) => void) {
  const dsr = program
    .command('dsr')
    .description('Data-subject requests: file, list, verify, extend, complete, deny');

  dsr
    .command('file')
    .description("File a request on a person's behalf (its identity then waits for `dsr verify`)")
    .requiredOption('--account <accountId>', 'the person')
    .requiredOption('--type <type>', DSR_TYPES.join(', '))
    .option('--details <text>', 'what the person asks for (required for rectification)')
    .action(async (opts: { account: string; type: string; details?: string }) => {
      if (!DSR_TYPES.includes(opts.type as DsrType))
        throw new AppError('VALIDATION_FAILED', `--type must be one of ${DSR_TYPES.join(', ')}`, {
          field: 'type',
        });
      if (!isValidAccountId(opts.account))
        throw new AppError('VALIDATION_FAILED', '--account is not a valid account id', {
          field: 'accountId',
        });
      const filed = await withDsr(config(), (s) =>
        s.file(
          {
            accountId: opts.account,
            type: opts.type as DsrType,
            details: opts.details,
            via: 'cli',
            signedIn: false,
          },
          CLI_OPERATOR,
        ),
      );
      say(line(filed));
    });

  dsr
    .command('list')
    .description('Requests, newest first; --attention: overdue, stalled or failed ones')
    .option('--state <state>', DSR_STATES.join(', '))
    .option('--type <type>', DSR_TYPES.join(', '))
    .option('--account <accountId>', 'only this person')
    .option('--attention', 'only the requests that need attention')
    .action(async (opts: { state?: string; type?: string; account?: string; attention?: boolean }) => {
      if (opts.state && !DSR_STATES.includes(opts.state as DsrState))
        throw new AppError('VALIDATION_FAILED', `--state must be one of ${DSR_STATES.join(', ')}`, {
          field: 'state',
        });
      if (opts.type && !DSR_TYPES.includes(opts.type as DsrType))
        throw new AppError('VALIDATION_FAILED', `--type must be one of ${DSR_TYPES.join(', ')}`, {
          field: 'type',
        });
      const rows = await withDsr(config(), (s) =>
        opts.attention
          ? s.listNeedingAttention()
          : s.list({ state: opts.state, type: opts.type, accountId: opts.account }),
      );
      if (rows.length === 0) say('No requests');
      for (const r of rows) say(line(r));
    });

  dsr
    .command('show <id>')
    .description('A request with its timeline and each app’s part, as JSON')
    .action(async (id: string) => {
      say(JSON.stringify(await withDsr(config(), (s) => s.show(requireId(id))), null, 2));
    });

  dsr
    .command('verify <id>')
    .description('Record that the requester’s identity is verified (the GDPR clock starts)')
    .action(async (id: string) =>
      say(line(await withDsr(config(), (s) => s.verify(requireId(id), CLI_OPERATOR)))),
    );

  dsr
    .command('extend <id>')
    .description('Extend the deadline (GDPR: --months 1 or 2, within the first month; CCPA: 45 days once)')
    .requiredOption('--reason <text>', 'why: the person is told')
    .option('--months <n>', 'GDPR months to add')
    .action(async (id: string, opts: { reason: string; months?: string }) => {
      const amount = opts.months === undefined ? undefined : Number(opts.months);
      if (amount !== undefined && !Number.isInteger(amount))
        throw new AppError('VALIDATION_FAILED', '--months must be a whole number', { field: 'amount' });
      say(
        line(
          await withDsr(config(), (s) =>
            s.extend(requireId(id), amount, requireReason(opts.reason), CLI_OPERATOR),
          ),
        ),
      );
    });

  dsr
    .command('complete <id>')
    .description('Complete a rectification; --set field=value for each correction made')
    .option('--note <text>', 'what was done')
    .option(
      '--set <field=value...>',
      'a corrected profile field (name, nickname, jobTitle, department, location, timeZone, locale, email)',
    )
    .action(async (id: string, opts: { note?: string; set?: string[] }) => {
      const allowed = [
        'name',
        'nickname',
        'jobTitle',
        'department',
        'location',
        'timeZone',
        'locale',
        'email',
      ];
      const changes: Record<string, string> = {};
      for (const pair of opts.set ?? []) {
        const at = pair.indexOf('=');
        const field = pair.slice(0, at);
        if (at < 1 || !allowed.includes(field))
          throw new AppError(
            'VALIDATION_FAILED',
            `--set ${pair}: use field=value with one of ${allowed.join(', ')}`,
            {
              field: 'changes',
            },
          );
        changes[field] = pair.slice(at + 1);
      }
      say(
        line(
          await withDsr(config(), (s) =>
            s.complete(requireId(id), { note: opts.note, changes }, CLI_OPERATOR),
          ),
        ),
      );
    });

  dsr
    .command('deny <id>')
    .description('Refuse a request, with the reason the person is told')
    .requiredOption('--reason <text>', 'why')
    .action(async (id: string, opts: { reason: string }) =>
      say(
        line(await withDsr(config(), (s) => s.deny(requireId(id), requireReason(opts.reason), CLI_OPERATOR))),
      ),
    );

  dsr
    .command('expedite <id>')
    .description(
      'Run the waiting step now (end an erasure’s grace period, stop waiting for apps, retry a failed step)',
    )
    .requiredOption('--reason <text>', 'why')
    .action(async (id: string, opts: { reason: string }) =>
      say(
        line(
          await withDsr(config(), (s) => s.expedite(requireId(id), requireReason(opts.reason), CLI_OPERATOR)),
        ),
      ),
    );
}
