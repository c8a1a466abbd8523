import type { Kysely } from 'kysely';
import { type AuditEntry, chainEntries, GENESIS_HASH } from '../../src/audit/audit.service.js';
import type { AuditEventTable, DB } from '../../src/db/schema.js';

const AT = '2026-11-30T10:00:00.000Z';

/** The audit log as it was stored before the hashes were bytes. */
interface HexTextLog {
  audit_events: Omit<AuditEventTable, 'prev_hash' | 'hash'> & { prev_hash: string; hash: string };
}

/**
 * Appends entries as the releases before migration 20261201-0019-audit-hashes stored them:
 * both hashes as 64 characters of lower-case hex text. For the tests of a migration that runs
 * on such a database (the application's own appends store bytes).
 */
export async function appendAsHexText(db: Kysely<DB>, entries: AuditEntry[], at = AT): Promise<void> {
  const old = db as unknown as Kysely<HexTextLog>;
  const tip = await old
    .selectFrom('audit_events')
    .select('hash')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  await old
    .insertInto('audit_events')
    .values(chainEntries(entries, tip?.hash ?? GENESIS_HASH, at))
    .execute();
}
