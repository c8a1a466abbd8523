import { randomUUID } from 'node:crypto';
import type { AuditActor, AuditLog } from '../audit/audit.service.js';
import * as repo from '../auth/api-token.repository.js';
import { mintToken, type TokenAuthenticator } from '../auth/api-token.service.js';
import { API_CLIENT_SCOPE_NAMES, isApiClientScope } from '../auth/scopes.js';
import type { Database } from '../db/dialect.js';
import { AppError } from '../errors/app-error.js';
import { normalizeEmail } from '../shared/email.js';

const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+$/;

export interface CreatedToken {
  /** The secret, shown once: only its hash is stored. */
  token: string;
  tokenId: string;
  clientId: string;
  createdClient: boolean;
  /** Every scope the client holds now (its tokens share them). */
  scopes: string[];
}

/** An API client as operators see it: who, what it may do, how many tokens work. */
export interface ApiClientView {
  id: string;
  email: string;
  scopes: string[];
  activeTokens: number;
  createdAt: string;
}

/** A token, never its secret, with the scopes of its client. */
export interface TokenView {
  id: string;
  clientId: string;
  email: string;
  label: string | null;
  scopes: string[];
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

function checkScopes(scopes: string[]): string[] {
  const unknown = scopes.filter((scope) => !isApiClientScope(scope));
  if (unknown.length > 0)
    throw new AppError(
      'VALIDATION_FAILED',
      `scopes: unknown ${unknown.map((s) => `"${s}"`).join(', ')}; API clients may hold ${API_CLIENT_SCOPE_NAMES.join(', ')}`,
      { field: 'scopes' },
    );
  if (scopes.length === 0)
    throw new AppError('VALIDATION_FAILED', 'scopes: grant at least one scope', { field: 'scopes' });
  return [...new Set(scopes)];
}

/**
 * The operator's actions on API clients (the admin API, the CLI, later the console): tokens
 * are created with the scopes they grant and revoked, each change committed with its audit
 * entry. A scope outside the catalogue is refused, so a typo cannot make a token that
 * silently opens nothing.
 */
export class ApiClientService {
  constructor(
    private readonly database: Database,
    private readonly audit: AuditLog,
    private readonly tokens: TokenAuthenticator,
  ) {}

  /** A new token for the client of `email` (created if new), granting `scopes` to the client. */
  async createToken(
    input: { email: string; scopes: string[]; label?: string },
    actor: AuditActor,
  ): Promise<CreatedToken> {
    const email = normalizeEmail(input.email);
    if (!EMAIL_PATTERN.test(email))
      throw new AppError('VALIDATION_FAILED', 'email: must be an address like name@example.com', {
        field: 'email',
      });
    const scopes = checkScopes(input.scopes);
    const minted = mintToken();
    const now = new Date().toISOString();
    return this.database.writeTransaction(async (trx) => {
      let client = await repo.findClientByEmail(trx, email);
      const createdClient = client === undefined;
      if (!client) {
        client = { id: randomUUID(), email, created_at: now };
        await repo.insertClient(trx, client);
      }
      await repo.grantScopes(trx, client.id, scopes, now);
      const tokenId = randomUUID();
      await repo.insertToken(trx, {
        id: tokenId,
        client_id: client.id,
        lookup_key: minted.lookupKey,
        token_hash: minted.hash,
        label: input.label ?? null,
        created_at: now,
      });
      // Ids and scopes only: the client's email stays out of the log.
      await this.audit.appendWithin(trx, [
        {
          actor,
          action: 'admin.token-created',
          details: { clientId: client.id, tokenId, scopes: scopes.join(' ') },
        },
      ]);
      return {
        token: minted.token,
        tokenId,
        clientId: client.id,
        createdClient,
        scopes: (await repo.findScopes(trx, client.id)).sort(),
      };
    });
  }

  /** Revokes an active token; it stops working at once here, within the auth cache time elsewhere. */
  async revokeToken(tokenId: string, actor: AuditActor): Promise<{ tokenId: string; revokedAt: string }> {
    const revokedAt = new Date().toISOString();
    await this.database.writeTransaction(async (trx) => {
      const token = await repo.findToken(trx, tokenId);
      if (!token || token.revoked_at !== null || !(await repo.revokeToken(trx, tokenId, revokedAt)))
        throw new AppError('NOT_FOUND', `No active token ${tokenId}`, { field: 'tokenId' });
      await this.audit.appendWithin(trx, [
        { actor, action: 'admin.token-revoked', details: { tokenId, clientId: token.client_id } },
      ]);
    });
    this.tokens.forget(tokenId);
    return { tokenId, revokedAt };
  }

  async listClients(): Promise<ApiClientView[]> {
    const [clients, scopes, active] = await Promise.all([
      repo.listClients(this.database.db),
      this.scopesByClient(),
      repo.countActiveTokens(this.database.db),
    ]);
    const activeOf = new Map(active.map((a) => [a.client_id, Number(a.n)]));
    return clients.map((c) => ({
      id: c.id,
      email: c.email,
      scopes: scopes.get(c.id) ?? [],
      activeTokens: activeOf.get(c.id) ?? 0,
      createdAt: c.created_at,
    }));
  }

  /** Every token, oldest first, with the scopes of its client (which all its tokens share). */
  async listTokens(): Promise<TokenView[]> {
    const [tokens, scopes] = await Promise.all([repo.listTokens(this.database.db), this.scopesByClient()]);
    return tokens.map((t) => ({
      id: t.id,
      clientId: t.client_id,
      email: t.email,
      label: t.label,
      scopes: scopes.get(t.client_id) ?? [],
      createdAt: t.created_at,
      lastUsedAt: t.last_used_at,
      revokedAt: t.revoked_at,
    }));
  }

  countClients(): Promise<number> {
    return repo.countClients(this.database.db);
  }

  private async scopesByClient(): Promise<Map<string, string[]>> {
    const scopes = new Map<string, string[]>();
    for (const { client_id, scope } of await repo.listClientScopes(this.database.db))
      scopes.set(client_id, [...(scopes.get(client_id) ?? []), scope]);
    return scopes;
  }
}
