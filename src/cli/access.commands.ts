import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  ACCESS_STATUSES,
  type AccessRequest,
  AccessRequestBody,
  type AccessStatus,
  USE_CASE_ID_PATTERN,
} from '../access/access.schemas.js';
import { AccessProgramme } from '../access/access.service.js';
import { AuditLog } from '../audit/audit.service.js';
import type { Config } from '../config.js';
import { AppError } from '../errors/app-error.js';
import { fromValidation } from '../errors/error-handler.js';
import { ComplianceService } from '../reporting/compliance.service.js';
import { strictAjv } from '../validation.js';
import { withDatabase } from './database.js';
import { OPERATOR } from './directory.js';

const validateRequest = strictAjv.compile(AccessRequestBody);

function withAccess<T>(config: Config, fn: (access: AccessProgramme) => Promise<T>): Promise<T> {
  return withDatabase(config, (database) =>
    fn(
      new AccessProgramme(
        database,
        new AuditLog(database),
        new ComplianceService(database, config.reportCycleDays),
        { requestsPerDay: config.accessRequestsPerDay },
      ),
    ),
  );
}

function requireReason(reason: string | undefined): string {
  if (!reason?.trim()) throw new AppError('VALIDATION_FAILED', 'Give the reason with --reason "…"');
  return reason;
}

const line = (r: AccessRequest) =>
  `${r.id}  ${r.appKey}  ${r.status}  ${r.useCases.join(',')}  submitted ${r.submittedAt}${r.reason ? `  (${r.reason})` : ''}`;

/**
 * `custos access …`: the Email API access programme (docs/email-access-programme.md) at the command
 * line. Decisions are audited as the operator and announced to the vendor by webhook (delivered by
 * the worker).
 */
export function registerAccessCommands(program: Command, config: () => Config, say: (line: string) => void) {
  const access = program
    .command('access')
    .description('The Email API access programme: requests, reviews, revocations');

  access
    .command('request')
    .description("File an access request on an app's behalf (the JSON of POST /app/email-access-requests)")
    .requiredOption('--file <path>', 'the request as JSON')
    .action(async (opts: { file: string }) => {
      let body: unknown;
      try {
        body = JSON.parse(readFileSync(opts.file, 'utf8'));
      } catch (error) {
        throw new AppError(
          'VALIDATION_FAILED',
          `${opts.file}: not readable JSON (${(error as Error).message})`,
        );
      }
      if (!validateRequest(body)) throw fromValidation(validateRequest.errors ?? []);
      const created = await withAccess(config(), (a) => a.submit(body as AccessRequestBody, OPERATOR));
      say(JSON.stringify(created));
    });

  access
    .command('list')
    .description('Access requests, oldest first (--status in-review is the review queue)')
    .option('--status <status>', `one of ${ACCESS_STATUSES.join(', ')}`)
    .option('--app <key>', 'only this app')
    .action(async (opts: { status?: string; app?: string }) => {
      if (opts.status && !ACCESS_STATUSES.includes(opts.status as AccessStatus))
        throw new AppError('VALIDATION_FAILED', `--status must be one of ${ACCESS_STATUSES.join(', ')}`);
      const page = await withAccess(config(), (a) =>
        a.list({ status: opts.status as AccessStatus | undefined, app: opts.app, limit: 500 }),
      );
      if (page.values.length === 0) say('No access requests');
      for (const r of page.values) say(line(r));
    });

  for (const [name, to] of [
    ['approve', 'approved'],
    ['reject', 'rejected'],
  ] as const) {
    access
      .command(name)
      .description(`${name === 'approve' ? 'Approve' : 'Reject'} a request in review, with a reason`)
      .argument('<requestId>')
      .requiredOption('--reason <reason>', 'why; kept on record and sent to the vendor')
      .action(async (id: string, opts: { reason: string }) => {
        const decided = await withAccess(config(), (a) =>
          a.decide(id, to, requireReason(opts.reason), OPERATOR),
        );
        say(line(decided));
      });
  }

  access
    .command('revoke')
    .description("Revoke an app's Email API access; its next Email API call is refused")
    .argument('<appKey>')
    .requiredOption('--reason <reason>', 'why; kept on record and sent to the vendor')
    .action(async (appKey: string, opts: { reason: string }) => {
      const revoked = await withAccess(config(), (a) =>
        a.revoke(appKey, requireReason(opts.reason), OPERATOR),
      );
      for (const r of revoked) say(line(r));
    });

  const useCase = access.command('use-case').description('The use-case catalogue');
  useCase
    .command('list')
    .description('Use cases and how each is decided: auto, review or never')
    .action(async () => {
      for (const u of await withAccess(config(), (a) => a.useCases()))
        say(`${u.id}  ${u.decision}  ${u.category}: ${u.functionality}`);
    });
  useCase
    .command('add')
    .description('Add a use case to the catalogue')
    .argument('<id>', 'lower-case letters, digits and dashes')
    .requiredOption('--decision <decision>', 'auto, review or never')
    .requiredOption('--category <category>', 'e.g. "transactional email"')
    .requiredOption('--functionality <text>', 'what the app does with the address')
    .action(async (id: string, opts: { decision: string; category: string; functionality: string }) => {
      if (!new RegExp(USE_CASE_ID_PATTERN).test(id))
        throw new AppError('VALIDATION_FAILED', 'The id must be lower-case letters, digits and dashes');
      if (!['auto', 'review', 'never'].includes(opts.decision))
        throw new AppError('VALIDATION_FAILED', '--decision must be auto, review or never');
      const decision = opts.decision as 'auto' | 'review' | 'never';
      await withAccess(config(), (a) =>
        a.addUseCase({ id, decision, category: opts.category, functionality: opts.functionality }, OPERATOR),
      );
      say(`Added use case ${id} (${decision})`);
    });
}
