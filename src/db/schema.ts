import type { ColumnType, Generated } from 'kysely';

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

/** How a consent was collected. */
export type ConsentChannel = 'api' | 'privacy-centre';

/** The durable inbox: one row per accepted consent request (ConsentHub API or privacy centre). */
export interface ConsentRequestTable {
  seq: Generated<number>;
  email: string;
  locale: string;
  form_url: string | null;
  provider_id: string | null;
  /**
   * JSON array of the resolved consents ({key, granted, displayedText, textSha256,
   * noticeVersion}) while pending; `[]` once applied, when the events hold them and the row
   * is compacted (form URL, provider id, address and user agent cleared too).
   */
  consents: string;
  client_id: string;
  remote_addr: string;
  user_agent: string | null;
  received_at: string;
  applied_at: string | null;
  /** 'api' (ConsentHub API, client_id) or 'privacy-centre' (the person, account_id); 'api' when not given. */
  channel: Generated<ConsentChannel>;
  /** The signed-in person who made the choice on their own page; null for the API. */
  account_id: ColumnType<string | null, string | null | undefined, string | null>;
}

/**
 * Append-only proof of every consent change (GDPR art. 7(1)), one per (request, key), keyed
 * (email, key, request_seq). The current choice per (email, key) is the event of the latest
 * received request. An event shown a registered notice's text names the notice (key +
 * `notice_version`) and keeps only the white space around it; its `displayed_text` and
 * `text_sha256` are then null and read from the notice (consent.repository.ts).
 */
export interface ConsentEventTable {
  request_seq: number;
  email: string;
  key: string;
  granted: number;
  /** The exact text shown, when it is no registered notice's text; null otherwise. */
  displayed_text: string | null;
  text_sha256: string | null;
  notice_version: string | null;
  /** White space shown before and after the notice's text (null: none). */
  text_lead: ColumnType<string | null, string | null | undefined, string | null>;
  text_trail: ColumnType<string | null, string | null | undefined, string | null>;
  form_url: string | null;
  locale: string;
  provider_id: string | null;
  client_id: string;
  remote_addr: string;
  user_agent: string | null;
  received_at: string;
  applied_at: string;
  /** 'api' (ConsentHub API, client_id) or 'privacy-centre' (the person, account_id); 'api' when not given. */
  channel: Generated<ConsentChannel>;
  /** The signed-in person who made the choice on their own page; null for the API. */
  account_id: ColumnType<string | null, string | null | undefined, string | null>;
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

export interface OrganizationTable {
  id: string;
  name: string;
  created_at: string;
  updated_at: string;
}

export interface OrganizationDomainTable {
  domain: string;
  organization_id: string;
}

/** A person or app identity. Profile columns are personal data, erased when the account closes. */
export interface AccountTable {
  account_id: string;
  account_type: string;
  /** 'active' | 'closed' */
  status: string;
  organization_id: string | null;
  email: string | null;
  name: string | null;
  nickname: string | null;
  /** The nickname as the user search compares it (directory's foldName); null with it. */
  nickname_folded: string | null;
  avatar_url: string | null;
  job_title: string | null;
  department: string | null;
  location: string | null;
  time_zone: string | null;
  locale: string | null;
  /** JSON object: profile field → 'public' | 'organization' | 'private', every field present. */
  visibility: string;
  /**
   * JSON array of the visibility fields the person set themselves (privacy centre), in
   * VISIBILITY_FIELDS order: an import never changes their settings.
   */
  visibility_chosen: Generated<string>;
  created_at: string;
  updated_at: string;
  /** When any profile PD last changed: what "PD changed since T?" compares against. */
  pd_updated_at: string;
  closed_at: string | null;
}

/** What happened to an account, without PD; read by reporting and propagation. */
export interface AccountEventTable {
  id: Generated<number>;
  account_id: string;
  /** 'account.created' | 'account.updated' | 'account.closed' */
  type: string;
  at: string;
}

export interface SiteTable {
  id: string;
  url: string;
  created_at: string;
  updated_at: string;
}

export interface SiteMemberTable {
  site_id: string;
  account_id: string;
}

export interface AppTable {
  key: string;
  name: string;
  vendor: string;
  privacy_policy_url: string | null;
  terms_url: string | null;
  stores_personal_data: number;
  webhook_url: string | null;
  /** AES-256-GCM under the master key (see crypto/secret-box.ts). */
  webhook_secret_enc: string | null;
  /** Null while a generated secret has not yet been shown to the operator. */
  webhook_secret_shown_at: string | null;
  /** Set when the endpoint answered 410 Gone: nothing is delivered until it is cleared. */
  webhook_disabled_at: string | null;
  webhook_disabled_reason: string | null;
  created_at: string;
  updated_at: string;
  /** The app's latest report-accounts call (compliance: "never reported" when null). */
  last_reported_at: string | null;
  /** During a secret rotation the previous secret also signs, until `webhook_previous_secret_until`. */
  webhook_previous_secret_enc: string | null;
  webhook_previous_secret_until: string | null;
}

export interface InstallationTable {
  id: string;
  app_key: string;
  site_id: string;
  client_key: string;
  /** AES-256-GCM under the master key: HS256 verification needs the plaintext. */
  shared_secret_enc: string;
  installed_at: string;
  uninstalled_at: string | null;
}

export interface OAuthClientTable {
  client_id: string;
  app_key: string;
  /** scrypt hash (see crypto/password-hash.ts); the secret itself is never stored. */
  secret_hash: string;
  /** JSON array of the scopes the client may be granted. */
  scopes: string;
  /** JSON array of the redirect URIs registered for user grants (matched exactly). */
  redirect_uris: ColumnType<string, string | undefined, string>;
  created_at: string;
  updated_at: string;
}

/** Append-only hash chain: hash = SHA-256(prev_hash + canonical entry). Ids only, never PD. */
export interface AuditEventTable {
  id: Generated<number>;
  at: string;
  actor_type: string;
  actor_id: string;
  action: string;
  app_key: string | null;
  installation_id: string | null;
  account_id: string | null;
  /** JSON object of ids and flags. */
  details: string;
  /**
   * SHA-256 digests, their 32 bytes (docs/audit-log.md#entry-format). Above the repository
   * they are lower-case hex, as they are hashed, shown and signed (src/audit/audit.repository.ts).
   */
  prev_hash: Buffer;
  hash: Buffer;
}

/** A signed statement of where the audit log ended (src/audit/checkpoint.service.ts), and its witnessing. */
export interface AuditCheckpointTable {
  seq: Generated<number>;
  id: string;
  /** RFC 7638 thumbprint of the public key that verifies `jws`. */
  kid: string;
  last_id: number;
  last_hash: string;
  entry_count: number;
  at: string;
  /** Compact JWS (EdDSA) of {lastId, lastHash, count, at}: the checkpoint itself. */
  jws: string;
  url_delivered_at: string | null;
  file_written_at: string | null;
  witness_attempts: Generated<number>;
  witness_error: string | null;
}

/**
 * The Email API use-case catalogue (docs/wire-contracts.md#use-cases); operators add rows with
 * `custos access use-case add`.
 */
export interface AccessUseCaseTable {
  id: string;
  category: string;
  functionality: string;
  decision: 'auto' | 'review' | 'never';
  created_at: string;
}

/** An Email API access request and its place in the programme's state machine (src/access/). */
export interface AccessRequestTable {
  seq: Generated<number>;
  id: string;
  app_key: string;
  status: 'submitted' | 'auto-approved' | 'auto-rejected' | 'in-review' | 'approved' | 'rejected' | 'revoked';
  company_name: string;
  app_name: string;
  listing_url: string | null;
  privacy_policy_url: string;
  terms_url: string;
  stores_personal_data: number;
  /** JSON array of use-case ids. */
  use_cases: string;
  description: string;
  privacy_policy_excerpt: string;
  reporting_check: 'met' | 'not-met' | 'pending' | 'not-required';
  reason: string | null;
  /** `<actor type>:<actor id>`, as in the audit log. */
  submitted_by: string;
  submitted_at: string;
  decided_by: string | null;
  decided_at: string | null;
  revoked_by: string | null;
  revoked_at: string | null;
  updated_at: string;
}

/** The holdings register: app X reported at `reported_at` that it stores PD of the account, retrieved at `retrieved_at`. */
export interface HoldingTable {
  app_key: string;
  account_id: string;
  retrieved_at: string;
  reported_at: string;
  first_reported_at: string;
}

/** GDPR art. 19 evidence: an app was told of an account's change or closure. */
export interface AccountNoticeTable {
  id: string;
  app_key: string;
  account_id: string;
  /** 'account.closed' | 'account.updated' */
  event_type: string;
  /** 'webhook' (message_id set: its delivery record) | 'report' (a report-accounts answer) */
  channel: string;
  message_id: string | null;
  told_at: string;
  /** The webhook's final state, kept here when the outbox message is purged after its retention. */
  delivery_status: WebhookStatus | null;
  delivered_at: string | null;
}

/** An app's statement that it erased the account's data. */
export interface ErasureConfirmationTable {
  app_key: string;
  account_id: string;
  confirmed_at: string;
}

export type JobStatus = 'pending' | 'running' | 'succeeded' | 'failed';

/**
 * A durable background job (src/jobs/): one row per run to make. Unique (name, key): a
 * scheduled job's key is its due time, so each due time is inserted once across processes.
 */
export interface JobTable {
  id: Generated<number>;
  name: string;
  key: string;
  /** JSON object handed to the handler; ids and settings, never PD. */
  payload: string;
  status: JobStatus;
  /** Runs started, the one under way included. */
  attempts: number;
  /** When the job is due: first run, or the next retry. */
  run_at: string;
  /** While running: until when the holder may run it before another worker assumes it died. */
  lease_until: string | null;
  /** The worker that holds, or last held, the lease (host:pid:random). */
  lease_holder: string | null;
  last_error: string | null;
  /** JSON summary the handler returned (counts, no PD). */
  result: string | null;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  finished_at: string | null;
}

/** A `reporting.overdue` webhook sent to an app: at most one per app and reporting cycle. */
export interface ReportingReminderTable {
  app_key: string;
  cycle_start: string;
  overdue_accounts: number;
  message_id: string;
  sent_at: string;
}

/**
 * A signed-in person's session. The cookie holds a random token; only its SHA-256 is kept.
 * A session works while `idle_expires_at` is in the future and it is not revoked.
 */
export interface SessionTable {
  id: string;
  token_hash: string;
  account_id: string;
  created_at: string;
  /** Written at most once a minute (see sessions/session.service.ts), not on every request. */
  last_seen_at: string;
  idle_timeout_s: number;
  /** min(last_seen_at + idle timeout, expires_at); the revocation time once revoked. */
  idle_expires_at: string;
  /** The absolute end, fixed at sign-in. */
  expires_at: string;
  /** Browser and system family (e.g. "Firefox on Linux"), never the whole User-Agent. */
  device_label: string;
  revoked_at: string | null;
}

/** A console role held by a person (src/auth/permissions.ts maps roles to permissions). */
export interface OperatorRoleTable {
  account_id: string;
  role: string;
  granted_at: string;
  /** `<actor type>:<actor id>`, as in the audit log. */
  granted_by: string;
}

/** An emailed one-time sign-in code (src/signin): its HMAC, never the code; no email. */
export interface SignInCodeTable {
  id: string;
  /** null when the email belonged to no open account: the row exists, no mail was sent. */
  account_id: string | null;
  code_hash: string;
  attempts: number;
  created_at: string;
  expires_at: string;
  used_at: string | null;
}

/** An operator-issued one-time sign-in link (src/signin): the token's SHA-256, never the token. */
export interface LoginLinkTable {
  id: string;
  token_hash: string;
  account_id: string;
  next_path: string;
  created_at: string;
  /** `<actor type>:<actor id>`, as in the audit log. */
  created_by: string;
  expires_at: string;
  used_at: string | null;
}

/** What the OAuth authorization server stores (src/grants): one row per record, its payload as JSON. */
export interface OAuthRecordTable {
  model: string;
  id: string;
  payload: string;
  grant_id: string | null;
  uid: string | null;
  user_code: string | null;
  account_id: string | null;
  client_id: string | null;
  created_at: string;
  expires_at: string | null;
  consumed_at: string | null;
  last_used_at: string | null;
}

/** The authorization server's signing keys; the private JWK encrypted (crypto/secret-box.ts). */
export interface OAuthSigningKeyTable {
  kid: string;
  private_jwk_enc: string;
  created_at: string;
  retired_at: string | null;
}

/** A data-subject request (src/dsr/): its workflow state, deadlines and outcome. */
export interface DsrRequestTable {
  id: string;
  account_id: string;
  type: string;
  regime: string;
  state: string;
  owner: string;
  filed_via: string;
  filed_by: string;
  needs_verification: number;
  details: string | null;
  received_at: string;
  verified_at: string | null;
  /** Calendar dates (`YYYY-MM-DD`), from the deadline engine. */
  due_on: string | null;
  original_due_on: string | null;
  acknowledge_by: string | null;
  extension: number;
  extension_reason: string | null;
  extended_at: string | null;
  state_since: string;
  state_limit_at: string | null;
  apps_deadline_at: string | null;
  grace_until: string | null;
  outcome_reason: string | null;
  reminded_at: string | null;
  attention_since: string | null;
  attention_reason: string | null;
  last_error: string | null;
  closed_at: string | null;
  updated_at: string;
}

export interface DsrEventTable {
  id: Generated<number>;
  request_id: string;
  at: string;
  actor: string;
  action: string;
  from_state: string | null;
  to_state: string | null;
  note: string | null;
}

export interface DsrAppPartTable {
  request_id: string;
  app_key: string;
  event_type: string;
  message_id: string | null;
  told_at: string;
  answered_at: string | null;
  /** JSON the app uploaded for an access export. */
  part: string | null;
  confirmed_at: string | null;
}

export interface DsrExportTable {
  request_id: string;
  /** The export document (JSON); null once deleted after its retention. */
  content: string | null;
  bytes: number;
  created_at: string;
  delete_after: string;
  deleted_at: string | null;
  downloaded_at: string | null;
}

/**
 * An account whose processing is restricted or which is deactivated pending erasure: one row
 * per account and kind, so both may stand at once.
 */
export interface AccountRestrictionTable {
  account_id: string;
  /** 'restricted' | 'erasure-pending' */
  kind: string;
  request_id: string;
  since: string;
}

/** An objection to direct marketing (ConsentHub answers "no" while it stands). */
export interface MarketingSuppressionTable {
  email: string;
  account_id: string;
  request_id: string;
  since: string;
}

/** What an app asked Custos to tell people (the relay); recipients are account ids, never addresses. */
export interface NotificationTable {
  id: string;
  app_key: string;
  idempotency_key: string;
  request_hash: string;
  category: string;
  subject: string;
  text_body: string;
  html_body: string | null;
  /** JSON array of the site ids the app's credentials spoke for. */
  site_ids: string;
  recipient_count: number;
  created_at: string;
}

export interface NotificationRecipientTable {
  notification_id: string;
  account_id: string;
  /** 'pending' | 'sent' | 'suppressed' | 'unknown' | 'failed' */
  state: string;
  updated_at: string;
}

/** A person's choice for an app ('*') or one of its categories; no row means on. */
export interface NotificationPreferenceTable {
  account_id: string;
  app_key: string;
  category: string;
  enabled: number;
  updated_at: string;
}

export interface NotificationQuotaTable {
  app_key: string;
  /** YYYY-MM-DD (UTC). */
  day: string;
  used: number;
}

export interface DB {
  api_clients: ApiClientTable;
  api_client_scopes: ApiClientScopeTable;
  api_tokens: ApiTokenTable;
  consent_notices: ConsentNoticeTable;
  consent_requests: ConsentRequestTable;
  consent_events: ConsentEventTable;
  organizations: OrganizationTable;
  organization_domains: OrganizationDomainTable;
  accounts: AccountTable;
  account_events: AccountEventTable;
  sites: SiteTable;
  site_members: SiteMemberTable;
  apps: AppTable;
  installations: InstallationTable;
  oauth_clients: OAuthClientTable;
  audit_events: AuditEventTable;
  audit_checkpoints: AuditCheckpointTable;
  webhook_messages: WebhookMessageTable;
  access_use_cases: AccessUseCaseTable;
  access_requests: AccessRequestTable;
  holdings: HoldingTable;
  account_notices: AccountNoticeTable;
  erasure_confirmations: ErasureConfirmationTable;
  jobs: JobTable;
  reporting_reminders: ReportingReminderTable;
  sessions: SessionTable;
  operator_roles: OperatorRoleTable;
  sign_in_codes: SignInCodeTable;
  login_links: LoginLinkTable;
  oauth_records: OAuthRecordTable;
  oauth_signing_keys: OAuthSigningKeyTable;
  dsr_requests: DsrRequestTable;
  dsr_events: DsrEventTable;
  dsr_app_parts: DsrAppPartTable;
  dsr_exports: DsrExportTable;
  account_restrictions: AccountRestrictionTable;
  marketing_suppressions: MarketingSuppressionTable;
  consent_receipts: ConsentReceiptTable;
  account_preferences: AccountPreferenceTable;
  notifications: NotificationTable;
  notification_recipients: NotificationRecipientTable;
  notification_preferences: NotificationPreferenceTable;
  notification_quota: NotificationQuotaTable;
}

/** A signed consent receipt: of a consent event (request_seq + consent_key) or of a preference change. */
export interface ConsentReceiptTable {
  receipt_id: string;
  request_seq: number | null;
  consent_key: string | null;
  account_id: string | null;
  /** SHA-256 (hex) of the normalised email the consent event is keyed by. */
  subject_sha256: string | null;
  kid: string;
  /**
   * How the receipt is stored (src/consent/receipt-storage.ts): null for a receipt kept whole
   * in `jws`, else the format of `header`, `payload` and `signature`.
   */
  format: number | null;
  /** The protected header, only when it is not the one rebuilt from `kid`. */
  header: string | null;
  /** The payload's JSON, compressed as `format` says. */
  payload: Buffer | null;
  /** The signature's raw bytes. */
  signature: Buffer | null;
  /** The receipt as a whole compact JWS: receipts stored before `format` existed. */
  jws: string | null;
  issued_at: string;
}

export interface AccountPreferenceTable {
  account_id: string;
  /** 'do-not-sell-or-share' */
  preference: string;
  /** 1 on, 0 off */
  value: number;
  /** How it was recorded: 'gpc' (a Sec-GPC: 1 signal), … */
  method: string;
  recorded_at: string;
  receipt_id: string;
}
