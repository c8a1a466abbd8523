import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  ACCESS_STATUSES,
  type AccessRequest,
  AccessRequestBody,
  type AccessStatus,
  type UseCase,
  UseCaseBody,
} from '../access/access.schemas.js';
import type { AccessProgramme } from '../access/access.service.js';
import { CLI_OPERATOR } from '../audit/audit.service.js';
import type { Config } from '../config.js';
import { AppError } from '../errors/app-error.js';
import { fromValidation } from '../errors/error-handler.js';
import { strictAjv } from '../validation.js';
import { withContext } from './context.js';

const validateRequest = strictAjv.compile(AccessRequestBody);
const validateUseCase = strictAjv.compile(UseCaseBody);

function withAccess<T>(config: Config, fn: (access: AccessProgramme) => Promise<T>): Promise<T> {
  return withContext(config, (ctx) => fn(ctx.access));
}

function requireReason(reason: string | undefined): string {
  if (!reason?.trim()) throw new AppError('VALIDATION_FAILED', 'Give the reason with --reason "…"');
  return reason;
}

const line = (r: AccessRequest) =>
  `${r.id}  ${r.appKey}  ${r.status}  ${r.useCases.join(',')}  submitted ${r.submittedAt}${r.reason ? `  (${r.reason})` : ''}`;

/**
 * `custos access …`: the Email API access programme at the command line, through the service
 * the admin API calls. Decisions are audited as the operator and announced to the vendor by
 * webhook (delivered by the worker).
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
      const created = await withAccess(config(), (a) => a.submit(body as AccessRequestBody, CLI_OPERATOR));
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
          a.decide(id, to, requireReason(opts.reason), CLI_OPERATOR),
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
        a.revoke(appKey, requireReason(opts.reason), CLI_OPERATOR),
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
      const useCase = { id, ...opts };
      // The admin API's body schema: the same rules, the same messages.
      if (!validateUseCase(useCase)) throw fromValidation(validateUseCase.errors ?? []);
      await withAccess(config(), (a) => a.addUseCase(useCase as UseCase, CLI_OPERATOR));
      say(`Added use case ${id} (${useCase.decision})`);
    });
}
