import { randomBytes, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { LiveSession, SessionSource } from '../auth/session-source.port.js';
import { sha256Hex } from '../crypto/digest.js';
import type { Database } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import { deviceLabel } from './device-label.js';
import * as repo from './session.repository.js';

/** 256 random bits, base64url: what the cookie carries. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;
/**
 * last_seen_at is written at most this often (and at most every tenth of the idle timeout),
 * not on every request: a session then ends between 0.9 and 1 idle timeout after its last
 * request, a precision people cannot notice, for far fewer writes.
 */
const MAX_TOUCH_INTERVAL_MS = 60_000;

export interface SessionPolicy {
  /** Ends after this long without a request. */
  idleMs: number;
  /** Ends this long after sign-in, whatever the activity. */
  absoluteMs: number;
}

/** A session as its owner sees it in their list. */
export interface SessionSummary {
  id: string;
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
  device: string;
}

export interface CreatedSession {
  /** The secret for the cookie; never stored, shown nowhere else. */
  token: string;
  id: string;
  expiresAt: string;
}

const earlier = (a: string, b: string) => (a < b ? a : b);

/**
 * People's sessions, kept on the server (OWASP ASVS V3): a new random token at every
 * sign-in, idle and absolute timeouts, revocable one by one or all at once, listable by
 * their owner. The token is looked up by its SHA-256, like API tokens: a high-entropy
 * secret needs no slow hash.
 */
export class SessionService implements SessionSource {
  constructor(
    private readonly database: Database,
    private readonly policy: SessionPolicy,
    /** The clock: tests move it to cross the timeouts. */
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Starts a session for a person who has just proved who they are. Always a fresh token
   * and id: one presented before sign-in is never promoted (no session fixation).
   */
  async create(accountId: string, options: { userAgent?: string } = {}): Promise<CreatedSession> {
    const token = randomBytes(32).toString('base64url');
    const now = this.now();
    const createdAt = now.toISOString();
    const expiresAt = new Date(now.getTime() + this.policy.absoluteMs).toISOString();
    const id = randomUUID();
    await repo.insertSession(this.database.db, {
      id,
      token_hash: sha256Hex(token),
      account_id: accountId,
      created_at: createdAt,
      last_seen_at: createdAt,
      idle_timeout_s: Math.round(this.policy.idleMs / 1000),
      idle_expires_at: earlier(new Date(now.getTime() + this.policy.idleMs).toISOString(), expiresAt),
      expires_at: expiresAt,
      device_label: deviceLabel(options.userAgent),
    });
    return { token, id, expiresAt };
  }

  /** The session a cookie's token stands for, if it still works; records the activity. */
  async authenticate(token: string): Promise<LiveSession | undefined> {
    if (!TOKEN_PATTERN.test(token)) return undefined;
    const row = await repo.findSessionByTokenHash(this.database.db, sha256Hex(token));
    if (!row || row.revoked_at !== null) return undefined;
    const now = this.now();
    const nowIso = now.toISOString();
    if (row.idle_expires_at <= nowIso) return undefined;
    const idleMs = row.idle_timeout_s * 1000;
    const touchEvery = Math.min(MAX_TOUCH_INTERVAL_MS, idleMs / 10);
    if (now.getTime() - Date.parse(row.last_seen_at) >= touchEvery) {
      await repo.touchSession(this.database.db, row.id, {
        last_seen_at: nowIso,
        idle_expires_at: earlier(new Date(now.getTime() + idleMs).toISOString(), row.expires_at),
      });
    }
    return { id: row.id, accountId: row.account_id };
  }

  /** The account's sessions that still work, newest first. */
  async list(accountId: string): Promise<SessionSummary[]> {
    const rows = await repo.listLiveSessions(this.database.db, accountId, this.now().toISOString());
    return rows.map((r) => ({
      id: r.id,
      createdAt: r.created_at,
      lastSeenAt: r.last_seen_at,
      expiresAt: r.expires_at,
      device: r.device_label,
    }));
  }

  /** Ends one of the account's sessions (sign-out); false when it was not live or not theirs. */
  async end(accountId: string, sessionId: string): Promise<boolean> {
    return (await repo.revokeSessions(this.database.db, accountId, this.nowIso(), { ids: [sessionId] })) > 0;
  }

  /** "Sign out everywhere else": ends every session of the account but `keepSessionId`. */
  endOthers(accountId: string, keepSessionId: string): Promise<number> {
    return repo.revokeSessions(this.database.db, accountId, this.nowIso(), { keep: keepSessionId });
  }

  /** "Sign out everywhere": ends every session of the account. */
  endAll(accountId: string): Promise<number> {
    return this.endAllWithin(this.database.db, accountId);
  }

  /**
   * Ends every session of the account in the caller's transaction: closing an account signs
   * its person out everywhere in the same commit, so no page is served to a closed account.
   */
  endAllWithin(trx: Kysely<DB>, accountId: string): Promise<number> {
    return repo.revokeSessions(trx, accountId, this.nowIso());
  }

  /**
   * Deletes up to `limit` sessions that no longer work, oldest first; returns how many, so a
   * scheduled clean-up can run again while it returns `limit`.
   */
  deleteExpiredSessions(limit: number): Promise<number> {
    return repo.deleteExpiredSessions(this.database.db, limit, this.nowIso());
  }

  private nowIso(): string {
    return this.now().toISOString();
  }
}
