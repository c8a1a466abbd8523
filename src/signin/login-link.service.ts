import { randomBytes, randomUUID } from 'node:crypto';
import type { AuditActor, AuditLog } from '../audit/audit.service.js';
import { sha256Hex } from '../crypto/digest.js';
import type { Database } from '../db/dialect.js';
import { AppError } from '../errors/app-error.js';
import { safeNextPath } from '../web/navigation.js';
import type { SignInAccounts } from './accounts.port.js';
import * as repo from './signin.repository.js';

export const LINK_TTL_MS = 15 * 60_000;
/** Where a link's page is: `/login/link/<token>`. */
export const LINK_PATH_PREFIX = '/login/link/';
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export interface IssuedLink {
  linkId: string;
  /** The path with the token; shown once, never stored. */
  path: string;
  next: string;
  expiresAt: string;
}

/**
 * One-time sign-in links an operator issues (`custos login-link`, POST /admin/login-links):
 * how someone signs in where neither mail nor an identity provider is set up, the embedded
 * default's first sign-in included. 256 random bits, kept as their SHA-256, valid once for 15
 * minutes. Opening the link only shows a button: the POST it sends uses the link up, so a
 * mail scanner that fetches links does not spend it.
 */
export class LoginLinks {
  constructor(
    private readonly database: Database,
    private readonly audit: AuditLog,
    private readonly accounts: SignInAccounts,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async issue(accountId: string, next: string | undefined, actor: AuditActor): Promise<IssuedLink> {
    // Kept as it will be redirected to: characters beyond ASCII percent-encoded.
    const target = safeNextPath(next ?? '/');
    if (target === '/' && next !== undefined && next !== '/')
      throw new AppError('VALIDATION_FAILED', 'next must be a path on this site, starting with one /', {
        field: 'next',
      });
    const account = await this.accounts.getAccount(accountId);
    if (!account.active)
      throw new AppError('CONFLICT', 'A closed account cannot sign in', { field: 'accountId' });
    const token = randomBytes(32).toString('base64url');
    const now = this.now();
    const link = {
      id: randomUUID(),
      token_hash: sha256Hex(token),
      account_id: accountId,
      next_path: target,
      created_at: now.toISOString(),
      created_by: `${actor.type}:${actor.id}`,
      expires_at: new Date(now.getTime() + LINK_TTL_MS).toISOString(),
      used_at: null,
    };
    await this.database.writeTransaction(async (trx) => {
      await repo.insertLink(trx, link);
      await this.audit.appendWithin(trx, [
        { actor, action: 'admin.login-link-issued', accountId, details: { linkId: link.id } },
      ]);
    });
    return { linkId: link.id, path: `${LINK_PATH_PREFIX}${token}`, next: target, expiresAt: link.expires_at };
  }

  /** Whether the link would sign someone in now (it is not used up by looking). */
  async usable(token: string): Promise<boolean> {
    if (!TOKEN_PATTERN.test(token)) return false;
    const row = await repo.findLinkByTokenHash(this.database.db, sha256Hex(token));
    return row !== undefined && row.used_at === null && row.expires_at > this.now().toISOString();
  }

  /** Uses the link up; the account it signs in and where to go, or undefined when it does not work. */
  async use(token: string): Promise<{ accountId: string; next: string } | undefined> {
    if (!TOKEN_PATTERN.test(token)) return undefined;
    const row = await repo.findLinkByTokenHash(this.database.db, sha256Hex(token));
    // Read before the transaction: on SQLite a read outside it would wait for it to end.
    if (!row || !(await this.accounts.getAccount(row.account_id)).active) return undefined;
    return this.database.writeTransaction(async (trx) => {
      // Conditional on being unused and unexpired: of two concurrent posts, one wins.
      if (!(await repo.useLink(trx, row.id, this.now().toISOString()))) return undefined;
      await this.audit.appendWithin(trx, [
        {
          actor: { type: 'account', id: row.account_id },
          action: 'signin.login-link',
          accountId: row.account_id,
          details: { linkId: row.id },
        },
      ]);
      return { accountId: row.account_id, next: safeNextPath(row.next_path) };
    });
  }
}
