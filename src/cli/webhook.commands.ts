import type { Command } from 'commander';
import type { Config } from '../config.js';
import * as apps from '../directory/app.repository.js';
import { AppError } from '../errors/app-error.js';
import { listMessages, requeue } from '../webhooks/webhook.repository.js';
import { auditOperator, withDatabase } from './database.js';

const STATUSES = ['pending', 'delivered', 'dead'];

/** `custos webhook …`: inspect the outbox, requeue dead letters, re-enable an endpoint. */
export function registerWebhookCommands(program: Command, config: () => Config, say: (line: string) => void) {
  const webhook = program.command('webhook').description('Inspect and manage webhook delivery');

  webhook
    .command('list')
    .description('Recent webhook messages, newest first (no payload: ids and delivery state only)')
    .option('--app <key>', 'only messages to this app')
    .option('--status <status>', `only messages in this state: ${STATUSES.join(', ')}`)
    .option('--limit <n>', 'at most this many', '50')
    .action(async (opts: { app?: string; status?: string; limit: string }) => {
      if (opts.status && !STATUSES.includes(opts.status)) {
        throw new AppError('VALIDATION_FAILED', `--status must be one of ${STATUSES.join(', ')}`);
      }
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
        throw new AppError('VALIDATION_FAILED', '--limit must be a whole number from 1 to 10000');
      }
      const rows = await withDatabase(config(), (db) =>
        listMessages(db.db, { appKey: opts.app, status: opts.status, limit }),
      );
      if (rows.length === 0) say('No webhook messages');
      for (const r of rows) {
        const outcome =
          r.status === 'delivered'
            ? `delivered ${r.delivered_at}`
            : `${r.status}${r.last_error ? ` (${r.last_error})` : ''}`;
        say(
          `${r.id}  ${r.app_key}  ${r.event_type}  created ${r.created_at}  attempts ${r.attempts}  ${outcome}`,
        );
      }
    });

  webhook
    .command('redeliver')
    .description('Put dead-lettered messages back in the queue: one by id, or all of one app')
    .argument('[messageId]')
    .option('--app <key>', 'every dead message of this app')
    .action(async (messageId: string | undefined, opts: { app?: string }) => {
      if (!messageId && !opts.app)
        throw new AppError('VALIDATION_FAILED', 'Give a message id or --app <key>');
      const count = await withDatabase(config(), async (db) => {
        const requeued = await requeue(db.db, { id: messageId, appKey: opts.app }, new Date().toISOString());
        await auditOperator(db, {
          action: 'admin.webhooks-requeued',
          appKey: opts.app,
          details: { messageId: messageId ?? null, count: requeued },
        });
        return requeued;
      });
      say(`Requeued ${count} message${count === 1 ? '' : 's'}`);
    });

  webhook
    .command('enable')
    .description("Turn an app's webhook endpoint back on after it answered 410 Gone")
    .argument('<appKey>')
    .action(async (appKey: string) => {
      await withDatabase(config(), async (db) => {
        if (!(await apps.findApp(db.db, appKey))) throw new AppError('NOT_FOUND', `No app ${appKey}`);
        await apps.updateApp(db.db, appKey, { webhook_disabled_at: null, webhook_disabled_reason: null });
        await auditOperator(db, { action: 'admin.webhook-enabled', appKey });
      });
      say(
        `Webhook endpoint of ${appKey} enabled; requeue its dead messages with: webhook redeliver --app ${appKey}`,
      );
    });
}
