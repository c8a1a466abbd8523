import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { CLI_OPERATOR } from '../audit/audit.service.js';
import type { Config } from '../config.js';
import { AppError } from '../errors/app-error.js';
import { withContext } from './context.js';

/** `custos notice …`: the consent notice registry, through the service the admin API calls. */
export function registerNoticeCommands(program: Command, config: () => Config, say: (line: string) => void) {
  const notice = program.command('notice').description('Manage the registry of consent notice texts');

  notice
    .command('add')
    .description(
      'Register a new version of a consent notice; granting that key then requires one of its registered texts',
    )
    .requiredOption('--key <key>', 'consent key, e.g. generalMarketingOptIn')
    .requiredOption('--version <version>', 'version label, e.g. 2026-11')
    .addOption(new Option('--text <text>', 'the exact text shown to users').conflicts('file'))
    .addOption(new Option('--file <path>', 'read the exact text from a file').conflicts('text'))
    .option(
      '--effective <date>',
      'when this version takes effect (an RFC 3339 date-time, e.g. 2026-12-01T00:00:00Z; default now)',
    )
    .action(
      async (opts: { key: string; version: string; text?: string; file?: string; effective?: string }) => {
        const text = opts.text ?? (opts.file ? readFileSync(opts.file, 'utf8') : undefined);
        if (text === undefined)
          throw new AppError('VALIDATION_FAILED', 'Give the notice text with --text or --file');
        const added = await withContext(config(), (ctx) =>
          ctx.notices.add(
            { key: opts.key, version: opts.version, text, effectiveAt: opts.effective },
            CLI_OPERATOR,
          ),
        );
        say(`Registered ${added.key} version ${added.version} (sha256 ${added.sha256})`);
      },
    );

  notice
    .command('list')
    .description('List registered notice versions')
    .action(async () => {
      for (const n of await withContext(config(), (ctx) => ctx.notices.list()))
        say(
          `${n.key}  ${n.version}  effective ${n.effectiveAt}  sha256 ${n.sha256}\n  ${JSON.stringify(n.text)}`,
        );
    });
}
