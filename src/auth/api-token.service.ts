import { randomBytes, timingSafeEqual } from 'node:crypto';
import { sha256Hex } from '../crypto/digest.js';
import type { Database } from '../db/dialect.js';
import { normalizeEmail } from '../shared/email.js';
import * as repo from './api-token.repository.js';
import type { CredentialLimiter } from './credential-limiter.js';
import type { ApiClientPrincipal } from './principal.js';

/**
 * API tokens for HTTP Basic `email:token`. A token is `cst_` + 43 base64url characters
 * (256 random bits). The prefix lets secret scanners recognise leaked tokens; only its
 * SHA-256 is stored (enough for a high-entropy secret: no dictionary to attack); the first
 * characters after the prefix index the row so the hash comparison can be constant-time.
 */
const PREFIX = 'cst_';
const LOOKUP_LENGTH = 12;
const TOKEN_PATTERN = /^cst_[A-Za-z0-9_-]{43}$/;
/** last_used_at is a coarse signal; writing it on every request would double the write load. */
const TOUCH_INTERVAL_MS = 60_000;
const MAX_CACHED_TOKENS = 10_000;

/** A new token: the secret (shown once), the part that indexes its row, and the hash that is stored. */
export function mintToken(): { token: string; lookupKey: string; hash: string } {
  const token = PREFIX + randomBytes(32).toString('base64url');
  return {
    token,
    lookupKey: token.slice(PREFIX.length, PREFIX.length + LOOKUP_LENGTH),
    hash: sha256Hex(token),
  };
}

/**
 * Checks `email:token` pairs. Successful checks are remembered for `cacheMs` by the SHA-256
 * of the credentials as presented (the Authorization header's value), never by the token,
 * so the hot ConsentHub paths neither parse the same header again nor query the token tables
 * on every call. A revocation made through this process takes effect at once; one made by
 * another process (the CLI, another server) within `cacheMs`.
 *
 * Failed checks count against the email and the caller's address (CredentialLimiter),
 * checked before the token is looked up. A remembered success is not a lookup: it proves
 * the caller holds a valid token for that email, so it is answered without the limiter.
 */
export class TokenAuthenticator {
  /** By the SHA-256 of the header as presented. */
  private readonly cache = new Map<string, { principal: ApiClientPrincipal; expiresAt: number }>();
  /**
   * The one key remembered for each token. The same token can be presented in many ways
   * (the scheme's letter case, spaces, the email's letter case): each new one replaces the
   * last, so one token cannot fill the cache and flush every other client's entries.
   */
  private readonly keyOfToken = new Map<string, string>();

  constructor(
    private readonly database: Database,
    private readonly cacheMs: number,
    private readonly limiter: CredentialLimiter,
  ) {}

  /**
   * The principal for `email:token`, read from the credentials `presented`, or undefined
   * when the pair is not valid (no reason given to callers). Throws RATE_LIMITED when the
   * email or the address has no failures left.
   */
  async authenticate(
    presented: string,
    { email, token }: { email: string; token: string },
    address: string,
  ): Promise<ApiClientPrincipal | undefined> {
    const key = sha256Hex(presented);
    const remembered = this.rememberedAt(key);
    if (remembered) return remembered;
    const claimed = normalizeEmail(email);
    const hash = TOKEN_PATTERN.test(token) ? sha256Hex(token) : undefined;
    const now = Date.now();
    await this.limiter.check('api-client', claimed, address);
    const found = hash === undefined ? undefined : await this.lookup(token, hash, now);
    if (found?.email !== claimed) {
      await this.limiter.recordFailure('api-client', claimed, address);
      return undefined;
    }
    if (this.cacheMs > 0) this.remember(key, found.principal, now + this.cacheMs);
    return found.principal;
  }

  private remember(key: string, principal: ApiClientPrincipal, expiresAt: number): void {
    const replaced = this.keyOfToken.get(principal.tokenId);
    if (replaced !== undefined) this.cache.delete(replaced);
    // Bounded: a flood of distinct valid tokens cannot grow memory without limit.
    if (this.cache.size >= MAX_CACHED_TOKENS) {
      this.cache.clear();
      this.keyOfToken.clear();
    }
    this.cache.set(key, { principal, expiresAt });
    this.keyOfToken.set(principal.tokenId, key);
  }

  /**
   * The principal of credentials presented just so and checked successfully within
   * `cacheMs`, without parsing or a lookup; else undefined.
   */
  remembered(presented: string): ApiClientPrincipal | undefined {
    return this.cache.size === 0 ? undefined : this.rememberedAt(sha256Hex(presented));
  }

  private rememberedAt(key: string): ApiClientPrincipal | undefined {
    const cached = this.cache.get(key);
    return cached && cached.expiresAt > Date.now() ? cached.principal : undefined;
  }

  /** Drops a revoked token from this process's cache, so the revocation counts from the next request. */
  forget(tokenId: string): void {
    const key = this.keyOfToken.get(tokenId);
    if (key === undefined) return;
    this.cache.delete(key);
    this.keyOfToken.delete(tokenId);
  }

  private async lookup(token: string, hash: string, nowMs: number) {
    const row = await repo.findActiveTokenByLookupKey(
      this.database.db,
      token.slice(PREFIX.length, PREFIX.length + LOOKUP_LENGTH),
    );
    if (!row) return undefined;
    const presented = Buffer.from(hash, 'hex');
    const stored = Buffer.from(row.token_hash, 'hex');
    if (stored.length !== presented.length || !timingSafeEqual(stored, presented)) return undefined;
    if (row.last_used_at === null || nowMs - Date.parse(row.last_used_at) > TOUCH_INTERVAL_MS) {
      // Not awaited: a request must not wait for a write (on SQLite another process may hold
      // the write lock). A touch that fails is made again at the token's next uncached use.
      repo.touchToken(this.database.db, row.id, new Date(nowMs).toISOString()).catch(() => {});
    }
    const scopes = await repo.findScopes(this.database.db, row.client_id);
    const principal: ApiClientPrincipal = {
      kind: 'api-client',
      clientId: row.client_id,
      tokenId: row.id,
      scopes: new Set(scopes),
    };
    // The token must belong to the email it is presented with; the caller compares.
    return { principal, email: row.email };
  }
}
