import type { Command } from 'commander';
import { CLI_OPERATOR } from '../audit/audit.service.js';
import type { Config } from '../config.js';
import type { WebhookStatus } from '../db/schema.js';
import { AppError } from '../errors/app-error.js';
import { WEBHOOK_STATUSES } from '../webhooks/webhook-outbox.service.js';
import { withContext } from './context.js';
import { withProgress } from './progress.js';

/** `custos webhook …`: inspect the outbox, requeue dead letters, re-enable an endpoint. */
export function registerWebhookCommands(program: Command, config: () => Config, say: (line: string) => void) {
  const webhook = program.command('webhook').description('Inspect and manage webhook delivery');

  webhook
    .command('list')
    .description('Recent webhook messages, newest first (no payload: ids and delivery state only)')
    .option('--app <key>', 'only messages to this app')
    .option('--status <status>', `only messages in this state: ${WEBHOOK_STATUSES.join(', ')}`)
    .option('--limit <n>', 'at most this many', '50')
    .action(async (opts: { app?: string; status?: string; limit: string }) => {
      if (opts.status && !WEBHOOK_STATUSES.includes(opts.status as WebhookStatus)) {
        throw new AppError('VALIDATION_FAILED', `--status must be one of ${WEBHOOK_STATUSES.join(', ')}`);
      }
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
        throw new AppError('VALIDATION_FAILED', '--limit must be a whole number from 1 to 10000');
      }
      const page = await withContext(config(), (ctx) =>
        ctx.outbox.list({ appKey: opts.app, status: opts.status as WebhookStatus | undefined, limit }),
      );
      if (page.values.length === 0) say('No webhook messages');
      for (const m of page.values) {
        const outcome =
          m.status === 'delivered'
            ? `delivered ${m.deliveredAt}`
            : `${m.status}${m.lastError ? ` (${m.lastError})` : ''}`;
        say(
          `${m.id}  ${m.appKey}  ${m.eventType}  created ${m.createdAt}  attempts ${m.attempts}  ${outcome}`,
        );
      }
    });

  webhook
    .command('redeliver')
    .description('Put dead-lettered messages back in the queue: one by id, or all of one app')
    .argument('[messageId]')
    .option('--app <key>', 'every dead message of this app')
    .action(async (messageId: string | undefined, opts: { app?: string }) => {
      if (!messageId === !opts.app)
        throw new AppError('VALIDATION_FAILED', 'Give either a message id or --app <key>');
      const { requeued } = await withContext(config(), (ctx) =>
        opts.app
          ? withProgress('webhook redeliver', 'messages', (onProgress) =>
              ctx.outbox.redeliverApp(opts.app as string, CLI_OPERATOR, { onProgress }),
            )
          : ctx.outbox.redeliverMessage(messageId as string, CLI_OPERATOR),
      );
      say(`Requeued ${requeued} message${requeued === 1 ? '' : 's'}`);
    });

  webhook
    .command('enable')
    .description("Turn an app's webhook endpoint back on after it answered 410 Gone")
    .argument('<appKey>')
    .action(async (appKey: string) => {
      const { wasDisabled } = await withContext(config(), (ctx) =>
        ctx.appWebhooks.enable(appKey, CLI_OPERATOR),
      );
      say(
        wasDisabled
          ? `Webhook endpoint of ${appKey} enabled; requeue its dead messages with: webhook redeliver --app ${appKey}`
          : `Webhook endpoint of ${appKey} was already enabled`,
      );
    });
}
