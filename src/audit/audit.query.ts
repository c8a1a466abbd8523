import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { queryAuditEvents } from './audit.repository.js';
import type { AuditQuery } from './audit.schemas.js';

/** A page of the log for the admin API; `details` stays the stored text, exactly as hashed. */
export async function queryAuditLog(db: Kysely<DB>, q: AuditQuery) {
  const rows = await queryAuditEvents(db, {
    appKey: q.app,
    accountId: q.account,
    action: q.action,
    // Stored times are ISO-8601 UTC text: normalise so that text order is time order.
    from: q.from && new Date(q.from).toISOString(),
    to: q.to && new Date(q.to).toISOString(),
    afterId: q.cursor === undefined ? undefined : Number(q.cursor),
    limit: q.limit,
  });
  const last = rows.at(-1);
  return {
    values: rows.map((r) => ({
      id: Number(r.id),
      at: r.at,
      actorType: r.actor_type,
      actorId: r.actor_id,
      action: r.action,
      appKey: r.app_key,
      installationId: r.installation_id,
      accountId: r.account_id,
      details: r.details,
      prevHash: r.prev_hash,
      hash: r.hash,
    })),
    nextCursor: rows.length === q.limit && last ? String(last.id) : null,
  };
}
