import type { Kysely } from 'kysely';
import type { Principal } from '../auth/principal.js';
import { sha256Hex } from '../crypto/digest.js';
import { type InsertPart, insertTogether } from '../db/compiled.js';
import type { Database } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import * as repo from './audit.repository.js';

export const GENESIS_HASH = '0'.repeat(64);
const CHAIN_LOCK = 'custos:audit-chain';

/** What is logged (docs/audit-log.md lists each action and its details). */
export type AuditAction =
  | 'email.disclosed'
  | 'profile.disclosed'
  | `grant.${'given' | 'removed' | 'revoked' | 'signing-key-rotated'}`
  | 'account.closed'
  | 'account.visibility-changed'
  | 'account.session-ended'
  | 'account.rectified'
  | `dsr.${string}`
  | 'installation.uninstalled'
  | 'app.webhook-secret-rotated'
  | 'directory.imported'
  | 'consent.changed'
  | 'preference.changed'
  | `notification.${'requested' | 'sent' | 'preferences-changed'}`
  | 'user.found-by-hidden-email'
  | `access.${'submitted' | 'auto-approved' | 'auto-rejected' | 'in-review' | 'approved' | 'rejected' | 'revoked' | 'use-case-added'}`
  | `admin.${string}`
  | `signin.${'oidc' | 'email-code' | 'login-link' | 'code-locked'}`;

/**
 * Who did it: an app (by key), an API client (by id), an operator (a person with a console
 * role, by account id, or `cli`: whoever runs the command line on the host), a person acting
 * on their own account (`account`), or Custos itself (`system`, e.g. the access programme's
 * automatic decisions).
 */
export interface AuditActor {
  type: 'app' | 'api-client' | 'operator' | 'account' | 'system';
  id: string;
}

/** The operator at the command line: the commands act with the host's access, not a sign-in. */
export const CLI_OPERATOR: AuditActor = { type: 'operator', id: 'cli' };

/**
 * Who the audit log names for an action a principal takes: an API client by id, an app by
 * key, a person by account id (`operator` for a console role, `account` for their own data).
 * The command line acts as `CLI_OPERATOR`.
 */
export function auditActorOf(principal: Principal | undefined): AuditActor {
  switch (principal?.kind) {
    case 'api-client':
      return { type: 'api-client', id: principal.clientId };
    case 'app':
      return { type: 'app', id: principal.appKey };
    case 'operator':
      return { type: 'operator', id: principal.accountId };
    case 'account':
      return { type: 'account', id: principal.accountId };
    case undefined:
      throw new Error('an action reached without a principal');
  }
}

/** One entry. Ids and flags only: never an email, a name or any other PD (details included). */
export interface AuditEntry {
  actor: AuditActor;
  action: AuditAction;
  appKey?: string;
  installationId?: string;
  accountId?: string;
  details?: Record<string, string | number | boolean | null>;
}

/** JSON with keys sorted at every level: the same entry always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The fields a row's hash covers, in the form a verifier recomputes from the stored row. */
export function hashOf(row: Omit<repo.AuditEventRow, 'id' | 'hash'>): string {
  return sha256Hex(canonicalJson(row));
}

/** The rows of `entries` appended at `at`, chained onto the entry whose hash is `prev`. */
export function chainEntries(entries: AuditEntry[], prev: string, at: string): repo.NewAuditEvent[] {
  let link = prev;
  return entries.map((entry) => {
    const row = {
      at,
      actor_type: entry.actor.type,
      actor_id: entry.actor.id,
      action: entry.action,
      app_key: entry.appKey ?? null,
      installation_id: entry.installationId ?? null,
      account_id: entry.accountId ?? null,
      details: canonicalJson(entry.details ?? {}),
      prev_hash: link,
    };
    link = hashOf(row);
    return { ...row, hash: link };
  });
}

async function appendChained(
  trx: Kysely<DB>,
  entries: AuditEntry[],
  at: string,
  alongside: InsertPart<DB>[] = [],
): Promise<void> {
  const tip = (await repo.findLastEvent(trx))?.hash ?? GENESIS_HASH;
  await insertTogether(trx, [...alongside, repo.auditEventsPart(chainEntries(entries, tip, at))]);
}

/**
 * The tamper-evident audit log: every admin action and every PD disclosure (GDPR art. 5(2),
 * docs/audit-log.md#what-is-logged).
 * Each row carries the previous row's hash, so appends are serialized: two concurrent
 * appends must not both chain onto the same predecessor.
 */
export class AuditLog {
  constructor(private readonly database: Database) {}

  /** Appends in its own serialized transaction; resolves once committed. */
  async append(entries: AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const at = new Date().toISOString();
    await this.database.serializedTransaction(CHAIN_LOCK, (trx) => appendChained(trx, entries, at));
  }

  /**
   * The latest disclosures of a person's email address to apps, newest first: what the log
   * may show a person about themselves (which app, when), without its chain fields.
   */
  async listEmailDisclosures(accountId: string, limit: number): Promise<{ appKey: string; at: string }[]> {
    const rows = await repo.listLatestEventsOfAccount(this.database.db, accountId, 'email.disclosed', limit);
    return rows.map((r) => ({ appKey: r.app_key ?? r.actor_id, at: r.at }));
  }

  /**
   * Takes the chain's lock now, in the caller's write transaction, for a change that appends
   * only after writing rows that a transaction already holding the lock may write too (an
   * account's closure ends its grants after taking it): the same order in both, so neither
   * waits on the other (PostgreSQL; SQLite's writer lock already serializes).
   */
  async lockChainWithin(trx: Kysely<DB>): Promise<void> {
    await this.database.advisoryLock(trx, CHAIN_LOCK);
  }

  /**
   * Appends inside the caller's write transaction, so the entry commits with the change it
   * records. On PostgreSQL the chain lock is taken here; SQLite's writer lock already serializes.
   * `alongside`: rows of other tables written in the same statement as the entries (see
   * insertTogether), which saves the caller's own round trips while the chain lock is held.
   */
  async appendWithin(
    trx: Kysely<DB>,
    entries: AuditEntry[],
    alongside: InsertPart<DB>[] = [],
  ): Promise<void> {
    if (entries.length === 0) {
      await insertTogether(trx, alongside);
      return;
    }
    await this.lockChainWithin(trx);
    await appendChained(trx, entries, new Date().toISOString(), alongside);
  }
}
