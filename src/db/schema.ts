import type { Generated } from 'kysely';

/**
 * Row types as both drivers return them. Times are ISO-8601 UTC strings with milliseconds
 * (`2026-11-24T05:31:48.123Z`): they sort as text and read the same on both engines.
 * Booleans are stored as 0/1 integers because SQLite has no boolean type.
 */
export interface ApiClientTable {
  id: string;
  email: string;
  created_at: string;
}

export interface ApiClientScopeTable {
  client_id: string;
  scope: string;
  granted_at: string;
}

export interface ApiTokenTable {
  id: string;
  client_id: string;
  /** Non-secret leading characters of the token, used to find the row before comparing hashes. */
  lookup_key: string;
  /** SHA-256 (hex) of the whole token; the token itself is never stored. */
  token_hash: string;
  label: string | null;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface ConsentNoticeTable {
  key: string;
  version: string;
  text: string;
  sha256: string;
  effective_at: string;
  created_at: string;
}

/** The durable inbox: one row per accepted POST /consent-hub/consent. */
export interface ConsentRequestTable {
  seq: Generated<number>;
  email: string;
  locale: string;
  form_url: string | null;
  provider_id: string | null;
  /** JSON array of {key, granted, displayedText}, exactly as received. */
  consents: string;
  client_id: string;
  remote_addr: string;
  user_agent: string | null;
  received_at: string;
  applied_at: string | null;
}

/**
 * Append-only proof of every consent change (GDPR art. 7(1)), one per (request, key), keyed
 * (email, key, request_seq). The current choice per (email, key) is the event of the latest
 * received request.
 */
export interface ConsentEventTable {
  request_seq: number;
  email: string;
  key: string;
  granted: number;
  displayed_text: string | null;
  text_sha256: string | null;
  notice_version: string | null;
  form_url: string | null;
  locale: string;
  provider_id: string | null;
  client_id: string;
  remote_addr: string;
  user_agent: string | null;
  received_at: string;
  applied_at: string;
}

export type WebhookStatus = 'pending' | 'delivered' | 'dead';

/** The webhook outbox. `id` is the Standard Webhooks `webhook-id`, stable across retries. */
export interface WebhookMessageTable {
  seq: Generated<number>;
  id: string;
  app_key: string;
  event_type: string;
  /** Messages with the same app and ordering key are delivered one at a time, in order. */
  ordering_key: string | null;
  payload: string;
  status: WebhookStatus;
  attempts: number;
  next_attempt_at: string;
  /** While set in the future, a worker is delivering the message; expired leases are retried. */
  lease_until: string | null;
  created_at: string;
  last_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
  delivered_at: string | null;
}

export interface DB {
  api_clients: ApiClientTable;
  api_client_scopes: ApiClientScopeTable;
  api_tokens: ApiTokenTable;
  consent_notices: ConsentNoticeTable;
  consent_requests: ConsentRequestTable;
  consent_events: ConsentEventTable;
  webhook_messages: WebhookMessageTable;
}
