import type { AuditActor, AuditEntry, AuditLog } from '../audit/audit.service.js';
import type { Database } from '../db/dialect.js';
import * as repo from './consent.repository.js';
import type { ResolvedConsent } from './consent.schemas.js';
import type { ReceiptService } from './receipt.service.js';

export interface ApplyResult {
  applied: number;
  /** Another process was applying (PostgreSQL): it takes what is pending. */
  elsewhere?: true;
  /** Milliseconds from receipt to application, one per applied request. */
  lagsMs: number[];
}

/**
 * One applier at a time per database: two servers' workers would otherwise split each batch,
 * each transaction paying its fixed cost (claim, audit tail) for half the rows, and
 * then queue for the audit chain's lock at their ends.
 */
export const APPLY_LOCK = 'custos:consent-apply';

/**
 * Turns accepted requests into consent events, in one transaction per batch: the events are
 * appended (GDPR art. 7(1): the proof is never rewritten) and the requests marked applied.
 * A crash before the commit leaves the batch pending; the (email, key, request_seq) primary key
 * means a retried batch can never record an event twice. The current choice is the event of
 * the latest received request, so batches applied out of order (a batch retried after a
 * crash) still give the same answer. Each change is also on the audit log, in the same
 * transaction and one append per batch; the entry names the event by request seq and consent
 * key, never by the email address the consent tables are keyed by (no PD in the log). Each
 * event gets its signed receipt in the same transaction, after the 202 rather than on the
 * request, so the ConsentHub POST stays as fast as the inbox's commit. While another
 * process's worker is applying, this one returns at once (`elsewhere`), or with `wait`
 * (a worker stopping, or told to drain) waits for that batch to end and applies the rest.
 */
export async function applyPendingConsents(
  database: Database,
  audit: AuditLog,
  receipts: ReceiptService,
  {
    limit = 500,
    wait = false,
    likelyPending = false,
  }: {
    limit?: number;
    wait?: boolean;
    /**
     * Requests are likely pending (the last batch applied some): open the transaction at
     * once. Otherwise a cheap read looks first, so that an idle worker's polls open none.
     */
    likelyPending?: boolean;
  } = {},
): Promise<ApplyResult> {
  if (!likelyPending && !(await repo.hasPendingRequests(database.db))) return { applied: 0, lagsMs: [] };
  const result = await database.exclusiveTransaction(
    APPLY_LOCK,
    async (trx) => {
      // Taken before the claim, which marks the requests with it (one statement on PostgreSQL).
      const appliedAtMs = Date.now();
      const appliedAt = new Date(appliedAtMs).toISOString();
      const requests = await repo.claimPendingRequests(database, trx, limit, appliedAt);
      if (requests.length === 0) return { applied: 0, lagsMs: [] };

      const events: repo.NewConsentEvent[] = [];
      const entries: AuditEntry[] = [];
      for (const request of requests) {
        // A request received while the claim was on its way to PostgreSQL may be in the batch:
        // its event never says it was applied before it was received.
        // biome-ignore lint/complexity/useMathMinMax: ISO 8601 times, compared as text.
        const eventAppliedAt = request.received_at > appliedAt ? request.received_at : appliedAt;
        // A choice made in the privacy centre is the person's own act; the API's, the client's.
        const actor: AuditActor =
          request.account_id === null
            ? { type: 'api-client', id: request.client_id }
            : { type: 'account', id: request.account_id };
        for (const consent of JSON.parse(request.consents) as ResolvedConsent[]) {
          entries.push({
            actor,
            action: 'consent.changed',
            details: { requestSeq: Number(request.seq), consentKey: consent.key, granted: consent.granted },
          });
          events.push({
            request_seq: request.seq,
            email: request.email,
            key: consent.key,
            granted: consent.granted ? 1 : 0,
            displayed_text: consent.displayedText,
            text_sha256: consent.textSha256,
            notice_version: consent.noticeVersion,
            form_url: request.form_url,
            locale: request.locale,
            provider_id: request.provider_id,
            client_id: request.client_id,
            remote_addr: request.remote_addr,
            user_agent: request.user_agent,
            received_at: request.received_at,
            applied_at: eventAppliedAt,
            channel: request.channel,
            account_id: request.account_id,
          });
        }
      }
      // Signed before the audit chain's lock is taken, and written with the audit entries in
      // one statement (PostgreSQL: one round trip for the three tables, while the lock is held).
      const signed = await receipts.receiptsForEvents(events);
      await audit.appendWithin(trx, entries, [repo.eventsPart(events), signed]);
      return {
        applied: requests.length,
        lagsMs: requests.map((r) => Math.max(0, appliedAtMs - Date.parse(r.received_at))),
      };
      // The inbox row is the durable record; applying it is idempotent, so its commit may skip the fsync.
    },
    // Nobody waits for an answer: while another process holds the SQLite write lock, wait
    // for it (without blocking the process) rather than fail and log an error.
    { durable: false, maxWaitMs: Number.POSITIVE_INFINITY, wait },
  );
  // Another process is applying: it takes what is pending too.
  return result ?? { applied: 0, lagsMs: [], elsewhere: true };
}
