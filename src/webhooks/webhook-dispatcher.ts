import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import { backoffDelayMs } from '../shared/backoff.js';
import * as repo from './webhook.repository.js';
import { type PostResponse, postSignedWebhook } from './webhook-post.js';
import type { Resolver } from './webhook-url.js';

/** Where an app receives webhooks. Several secrets during a rotation: each signs. */
export interface WebhookEndpoint {
  url: string;
  secrets: string[];
  disabled: boolean;
}

/** Implemented by the directory, which owns apps and their endpoints. */
export interface WebhookEndpoints {
  find(appKey: string): Promise<WebhookEndpoint | undefined>;
  /** An endpoint that answered 410 Gone is switched off until the operator turns it on again. */
  disable(appKey: string, reason: string): Promise<void>;
}

export interface OutgoingMessage {
  appKey: string;
  eventType: string;
  /** Thin, PD-free payload; serialized as the request body. */
  payload: Record<string, unknown>;
  orderingKey?: string;
}

export interface DispatcherOptions {
  allowPrivate: boolean;
  timeoutMs: number;
  /** Retry for this long after a message was written (Standard Webhooks: about three days). */
  maxAgeMs: number;
  concurrency: number;
  /** First retry delay; doubles per attempt. */
  baseDelayMs?: number;
  /** How target names are resolved: the system resolver unless a test gives a fixed table. */
  resolve?: Resolver;
}

const BASE_DELAY_MS = 5_000;
const MAX_RETRY_AFTER_MS = 24 * 3_600_000;

/** `Retry-After` as delta-seconds or an HTTP date, in ms from now; undefined if absent or unreadable. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (!value) return undefined;
  const seconds = /^\d+$/.test(value.trim()) ? Number(value.trim()) * 1000 : Date.parse(value) - nowMs;
  if (!Number.isFinite(seconds)) return undefined;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(1000, seconds));
}

/** Writes messages to the outbox in the caller's transaction: they exist exactly when the change does. */
export async function enqueueWebhooks(
  db: Kysely<DB>,
  messages: OutgoingMessage[],
  now = new Date(),
): Promise<string[]> {
  const at = now.toISOString();
  const rows = messages.map((m) => ({
    id: `msg_${randomUUID().replaceAll('-', '')}`,
    app_key: m.appKey,
    event_type: m.eventType,
    ordering_key: m.orderingKey ?? null,
    payload: JSON.stringify(m.payload),
    status: 'pending' as const,
    attempts: 0,
    next_attempt_at: at,
    created_at: at,
  }));
  await repo.insertMessages(db, rows);
  return rows.map((r) => r.id);
}

/**
 * Delivers due outbox messages, signed with the `standardwebhooks` package. 2xx: delivered.
 * 410: the endpoint is disabled and the message is dead. Anything else (other statuses,
 * timeouts, refused connections): retried with backoff, honouring Retry-After, until the
 * message is older than `maxAgeMs`, then dead (a dead letter that `redeliver` requeues).
 * Delivery is at least once: receivers deduplicate by `webhook-id`.
 */
export class WebhookDispatcher {
  constructor(
    private readonly database: Database,
    private readonly endpoints: WebhookEndpoints,
    private readonly options: DispatcherOptions,
    private readonly log: Logger,
  ) {}

  async runOnce(): Promise<number> {
    const nowMs = Date.now();
    const leaseMs = this.options.timeoutMs + 30_000;
    if (!(await repo.hasDueMessage(this.database.db, new Date(nowMs).toISOString()))) return 0;
    const messages = await repo.leaseDueMessages(
      this.database,
      new Date(nowMs).toISOString(),
      new Date(nowMs + leaseMs).toISOString(),
      this.options.concurrency,
    );
    await Promise.all(messages.map((m) => this.deliver(m)));
    return messages.length;
  }

  private async deliver(message: repo.WebhookMessage): Promise<void> {
    const db = this.database.db;
    const endpoint = await this.endpoints.find(message.app_key);
    if (!endpoint || endpoint.disabled || endpoint.secrets.length === 0) {
      const error = !endpoint || endpoint.secrets.length === 0 ? 'no webhook endpoint' : 'endpoint disabled';
      await repo.recordFailure(db, message.id, { status: null, error, nextAttemptAt: null });
      return;
    }
    let response: PostResponse | undefined;
    let error = '';
    try {
      response = await this.post(endpoint, message);
    } catch (e) {
      error = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    }
    const nowMs = Date.now();
    if (response && response.status >= 200 && response.status < 300) {
      await repo.recordDelivered(db, message.id, response.status, new Date(nowMs).toISOString());
      return;
    }
    if (response?.status === 410) {
      await this.endpoints.disable(message.app_key, 'endpoint answered 410 Gone');
      await repo.recordFailure(db, message.id, {
        status: 410,
        error: 'gone: endpoint disabled',
        nextAttemptAt: null,
      });
      this.log.warn({ app: message.app_key }, 'webhook endpoint answered 410; disabled');
      return;
    }
    const delay =
      parseRetryAfter(response?.retryAfter, nowMs) ??
      backoffDelayMs(message.attempts, this.options.baseDelayMs ?? BASE_DELAY_MS);
    const next = nowMs + delay;
    const expired = next > Date.parse(message.created_at) + this.options.maxAgeMs;
    await repo.recordFailure(db, message.id, {
      status: response?.status ?? null,
      error: response ? `HTTP ${response.status}` : error,
      nextAttemptAt: expired ? null : new Date(next).toISOString(),
    });
  }

  private post(endpoint: WebhookEndpoint, message: repo.WebhookMessage): Promise<PostResponse> {
    return postSignedWebhook({
      url: endpoint.url,
      secrets: endpoint.secrets,
      id: message.id,
      payload: message.payload,
      timeoutMs: this.options.timeoutMs,
      allowPrivate: this.options.allowPrivate,
      resolve: this.options.resolve,
    });
  }
}
