import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Database } from '../db/dialect.js';
import { AppError } from '../errors/app-error.js';
import { normalizeEmail } from '../shared/email.js';
import * as repo from './api-token.repository.js';
import type { CredentialLimiter } from './credential-limiter.js';
import { API_CLIENT_SCOPES, type ApiClientPrincipal } from './principal.js';

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

function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

export interface CreatedToken {
  token: string;
  tokenId: string;
  clientId: string;
  createdClient: boolean;
}

export async function createToken(
  database: Database,
  input: { email: string; scopes: string[]; label?: string },
): Promise<CreatedToken> {
  const email = normalizeEmail(input.email);
  const known: readonly string[] = API_CLIENT_SCOPES;
  const unknown = input.scopes.filter((scope) => !known.includes(scope));
  if (unknown.length > 0)
    throw new AppError(
      'VALIDATION_FAILED',
      `scope: unknown ${unknown.map((s) => `"${s}"`).join(', ')}; API clients may hold ${API_CLIENT_SCOPES.join(', ')}`,
      { field: 'scope' },
    );
  const token = PREFIX + randomBytes(32).toString('base64url');
  const now = new Date().toISOString();
  return database.writeTransaction(async (trx) => {
    let client = await repo.findClientByEmail(trx, email);
    const createdClient = client === undefined;
    if (!client) {
      client = { id: randomUUID(), email, created_at: now };
      await repo.insertClient(trx, client);
    }
    await repo.grantScopes(trx, client.id, [...new Set(input.scopes)], now);
    const tokenId = randomUUID();
    await repo.insertToken(trx, {
      id: tokenId,
      client_id: client.id,
      lookup_key: token.slice(PREFIX.length, PREFIX.length + LOOKUP_LENGTH),
      token_hash: sha256Hex(token),
      label: input.label ?? null,
      created_at: now,
    });
    return { token, tokenId, clientId: client.id, createdClient };
  });
}

/**
 * Checks `email:token` pairs. Successful checks are remembered for `cacheMs` (by the
 * token's SHA-256, never the token) so the hot ConsentHub paths do not query the token
 * tables on every call. A revocation made through this process takes effect at once; one
 * made by another process (the CLI, another server) within `cacheMs`.
 *
 * Failed checks count against the email and the caller's address (CredentialLimiter),
 * checked before the token is looked up. A remembered success is not a lookup: it proves
 * the caller holds a valid token for that email, so it is answered without the limiter.
 */
export class TokenAuthenticator {
  private readonly cache = new Map<
    string,
    { principal: ApiClientPrincipal; email: string; expiresAt: number }
  >();

  constructor(
    private readonly database: Database,
    private readonly cacheMs: number,
    private readonly limiter: CredentialLimiter,
  ) {}

  /**
   * The principal for `email:token`, or undefined when the pair is not valid (no reason
   * given to callers). Throws RATE_LIMITED when the email or the address has no failures left.
   */
  async authenticate(email: string, token: string, address: string): Promise<ApiClientPrincipal | undefined> {
    const claimed = normalizeEmail(email);
    const hash = TOKEN_PATTERN.test(token) ? sha256Hex(token) : undefined;
    const now = Date.now();
    const cached = hash === undefined ? undefined : this.cache.get(hash);
    if (cached && cached.expiresAt > now && cached.email === claimed) return cached.principal;
    await this.limiter.check('api-client', claimed, address);
    const found = hash === undefined ? undefined : await this.lookup(token, hash, now);
    if (found?.email !== claimed) {
      await this.limiter.recordFailure('api-client', claimed, address);
      return undefined;
    }
    if (this.cacheMs > 0 && hash !== undefined) {
      // Bounded: a flood of distinct valid tokens cannot grow memory without limit.
      if (this.cache.size >= MAX_CACHED_TOKENS) this.cache.clear();
      this.cache.set(hash, { ...found, expiresAt: now + this.cacheMs });
    }
    return found.principal;
  }

  async revoke(tokenId: string): Promise<boolean> {
    const revoked = await revokeToken(this.database, tokenId);
    for (const [hash, entry] of this.cache) if (entry.principal.tokenId === tokenId) this.cache.delete(hash);
    return revoked;
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

/** Every token (never its secret) with the scopes of its client, which all its tokens share. */
export async function listTokens(database: Database) {
  const [tokens, grants] = await Promise.all([
    repo.listTokens(database.db),
    repo.listClientScopes(database.db),
  ]);
  const scopes = new Map<string, string[]>();
  for (const { client_id, scope } of grants) scopes.set(client_id, [...(scopes.get(client_id) ?? []), scope]);
  return tokens.map((t) => ({ ...t, scopes: scopes.get(t.client_id) ?? [] }));
}

export async function revokeToken(database: Database, tokenId: string): Promise<boolean> {
  return repo.revokeToken(database.db, tokenId, new Date().toISOString());
}

export const countClients = (database: Database) => repo.countClients(database.db);
