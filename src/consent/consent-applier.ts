import type { Insertable } from 'kysely';
import type { Database } from '../db/dialect.js';
import type { ConsentEventTable, ConsentStateTable } from '../db/schema.js';
import * as repo from './consent.repository.js';
import type { ResolvedConsent } from './consent.schemas.js';

export interface ApplyResult {
  applied: number;
  /** Milliseconds from receipt to application, one per applied request. */
  lagsMs: number[];
}

/**
 * Turns accepted requests into consent events and current choices, in one transaction per
 * batch: the events are appended (GDPR art. 7(1): the proof is never rewritten), the
 * current choice per (email, key) moves only forward in received order, and the requests
 * are marked applied. A crash before the commit leaves the batch pending; the unique
 * (request_seq, key) constraint means a retried batch can never record an event twice.
 * Because the current choice is "the latest received request wins", batches applied by
 * several workers at once still converge on the same state.
 */
export async function applyPendingConsents(database: Database, limit = 500): Promise<ApplyResult> {
  return database.writeTransaction(
    async (trx) => {
      const requests = await repo.claimPendingRequests(database, trx, limit);
      if (requests.length === 0) return { applied: 0, lagsMs: [] };
      const appliedAtMs = Date.now();
      const appliedAt = new Date(appliedAtMs).toISOString();

      const events: Insertable<ConsentEventTable>[] = [];
      for (const request of requests) {
        for (const consent of JSON.parse(request.consents) as ResolvedConsent[]) {
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
            applied_at: appliedAt,
          });
        }
      }
      const inserted = await repo.insertEvents(trx, events);

      // Only the latest request per (email, key) in this batch can become the current choice.
      const eventIds = new Map(inserted.map((e) => [`${e.request_seq}\u0000${e.key}`, e.id]));
      const latest = new Map<string, ConsentStateTable>();
      for (const event of events) {
        const id = eventIds.get(`${event.request_seq}\u0000${event.key}`);
        if (id === undefined) continue;
        const stateKey = `${event.email}\u0000${event.key}`;
        const current = latest.get(stateKey);
        if (!current || current.request_seq < event.request_seq) {
          latest.set(stateKey, {
            email: event.email,
            key: event.key,
            granted: event.granted,
            request_seq: event.request_seq,
            event_id: id,
            updated_at: appliedAt,
          });
        }
      }
      await repo.upsertStates(trx, [...latest.values()]);
      await repo.markApplied(
        trx,
        requests.map((r) => r.seq),
        appliedAt,
      );
      return {
        applied: requests.length,
        lagsMs: requests.map((r) => appliedAtMs - Date.parse(r.received_at)),
      };
      // The inbox row is the durable record; applying it is idempotent, so its commit may skip the fsync.
    },
    { durable: false },
  );
}
