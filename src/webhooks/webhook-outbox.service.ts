import type { AuditActor, AuditLog } from '../audit/audit.service.js';
import type { Database } from '../db/dialect.js';
import type { WebhookStatus } from '../db/schema.js';
import { AppError } from '../errors/app-error.js';
import type { LongRun } from '../shared/progress.js';
import * as repo from './webhook.repository.js';

export const WEBHOOK_STATUSES = ['pending', 'delivered', 'dead'] as const satisfies readonly WebhookStatus[];

/** Dead messages requeued per transaction: a bulk redelivery never holds the write lock long. */
const REQUEUE_BATCH = 500;

/** A message as operators see it: ids and delivery state, never its payload. */
export interface MessageView {
  id: string;
  appKey: string;
  eventType: string;
  status: WebhookStatus;
  attempts: number;
  createdAt: string;
  nextAttemptAt: string;
  lastAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: string | null;
}

function toView(m: repo.WebhookMessage): MessageView {
  return {
    id: m.id,
    appKey: m.app_key,
    eventType: m.event_type,
    status: m.status,
    attempts: m.attempts,
    createdAt: m.created_at,
    nextAttemptAt: m.next_attempt_at,
    lastAttemptAt: m.last_attempt_at,
    lastStatus: m.last_status,
    lastError: m.last_error,
    deliveredAt: m.delivered_at,
  };
}

/**
 * The operator's view of and actions on the webhook outbox (admin API, CLI, later the
 * console): list messages, put dead letters back in the queue. Each requeue commits with
 * its audit entry; the worker is woken after the commit.
 */
export class WebhookOutbox {
  constructor(
    private readonly database: Database,
    private readonly audit: AuditLog,
    /** Called after a commit that queued messages (wakes the worker of this process). */
    private readonly onQueued: () => void = () => {},
  ) {}

  /** Newest first, a page at a time. */
  async list(filter: { appKey?: string; status?: WebhookStatus; limit: number; cursor?: string }) {
    const rows = await repo.listMessages(this.database.db, {
      appKey: filter.appKey,
      status: filter.status,
      limit: filter.limit,
      beforeSeq: filter.cursor === undefined ? undefined : Number(filter.cursor),
    });
    const last = rows.at(-1);
    return {
      values: rows.map(toView),
      nextCursor: rows.length === filter.limit && last ? String(last.seq) : null,
    };
  }

  /** Puts one dead message back in the queue, due now. */
  async redeliverMessage(id: string, actor: AuditActor): Promise<{ requeued: number }> {
    await this.database.writeTransaction(async (trx) => {
      const message = await repo.findMessage(trx, id);
      if (!message) throw new AppError('NOT_FOUND', `No webhook message ${id}`, { field: 'id' });
      if (message.status !== 'dead' || (await repo.requeueDead(trx, [message.seq], now())) === 0)
        throw new AppError(
          'CONFLICT',
          `Message ${id} is ${message.status}; only dead messages are redelivered`,
          {
            field: 'id',
          },
        );
      await this.audit.appendWithin(trx, [
        {
          actor,
          action: 'admin.webhooks-requeued',
          appKey: message.app_key,
          details: { messageId: id, count: 1 },
        },
      ]);
    });
    this.onQueued();
    return { requeued: 1 };
  }

  /**
   * Puts every dead message of an app back in the queue, oldest first, in transactions of
   * REQUEUE_BATCH messages, each with its audit entry (the app, how many, the part). Each
   * message is visited once: one that dies again meanwhile (its endpoint still refusing) is
   * not requeued a second time.
   */
  async redeliverApp(appKey: string, actor: AuditActor, run: LongRun = {}): Promise<{ requeued: number }> {
    const total = run.onProgress ? await repo.countMessages(this.database.db, { appKey, status: 'dead' }) : 0;
    run.onProgress?.(0, total);
    let requeued = 0;
    let afterSeq = 0;
    for (let part = 1; !run.signal?.aborted; part++) {
      const batch = await this.database.writeTransaction(async (trx) => {
        const seqs = await repo.findDeadSeqs(trx, appKey, afterSeq, REQUEUE_BATCH);
        const count = await repo.requeueDead(trx, seqs, now());
        if (count > 0)
          await this.audit.appendWithin(trx, [
            { actor, action: 'admin.webhooks-requeued', appKey, details: { messageId: null, count, part } },
          ]);
        return { seqs, count };
      });
      afterSeq = batch.seqs.at(-1) ?? afterSeq;
      requeued += batch.count;
      if (batch.count > 0) this.onQueued();
      run.onProgress?.(requeued, Math.max(total, requeued));
      if (batch.seqs.length < REQUEUE_BATCH) break;
      await this.database.pauseBetweenTransactions();
    }
    return { requeued };
  }
}

const now = () => new Date().toISOString();
