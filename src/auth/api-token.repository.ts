import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

export function findClientByEmail(db: Kysely<DB>, email: string) {
  return db.selectFrom('api_clients').selectAll().where('email', '=', email).executeTakeFirst();
}

export async function insertClient(db: Kysely<DB>, row: { id: string; email: string; created_at: string }) {
  await db.insertInto('api_clients').values(row).execute();
}

export async function grantScopes(db: Kysely<DB>, clientId: string, scopes: string[], now: string) {
  if (scopes.length === 0) return;
  await db
    .insertInto('api_client_scopes')
    .values(scopes.map((scope) => ({ client_id: clientId, scope, granted_at: now })))
    .onConflict((oc) => oc.columns(['client_id', 'scope']).doNothing())
    .execute();
}

export async function insertToken(
  db: Kysely<DB>,
  row: {
    id: string;
    client_id: string;
    lookup_key: string;
    token_hash: string;
    label: string | null;
    created_at: string;
  },
) {
  await db.insertInto('api_tokens').values(row).execute();
}

export function findActiveTokenByLookupKey(db: Kysely<DB>, lookupKey: string) {
  return db
    .selectFrom('api_tokens')
    .innerJoin('api_clients', 'api_clients.id', 'api_tokens.client_id')
    .select([
      'api_tokens.id',
      'api_tokens.client_id',
      'api_tokens.token_hash',
      'api_tokens.last_used_at',
      'api_clients.email',
    ])
    .where('api_tokens.lookup_key', '=', lookupKey)
    .where('api_tokens.revoked_at', 'is', null)
    .executeTakeFirst();
}

export async function findScopes(db: Kysely<DB>, clientId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('api_client_scopes')
    .select('scope')
    .where('client_id', '=', clientId)
    .execute();
  return rows.map((r) => r.scope);
}

export async function touchToken(db: Kysely<DB>, tokenId: string, now: string) {
  await db.updateTable('api_tokens').set({ last_used_at: now }).where('id', '=', tokenId).execute();
}

export function listTokens(db: Kysely<DB>) {
  return db
    .selectFrom('api_tokens')
    .innerJoin('api_clients', 'api_clients.id', 'api_tokens.client_id')
    .select([
      'api_tokens.id',
      'api_tokens.client_id',
      'api_clients.email',
      'api_tokens.label',
      'api_tokens.created_at',
      'api_tokens.last_used_at',
      'api_tokens.revoked_at',
    ])
    .orderBy('api_tokens.created_at')
    .execute();
}

/** Every client's scopes, in name order (a small table: one row per client and scope). */
export function listClientScopes(db: Kysely<DB>) {
  return db
    .selectFrom('api_client_scopes')
    .select(['client_id', 'scope'])
    .orderBy('client_id')
    .orderBy('scope')
    .execute();
}

export async function revokeToken(db: Kysely<DB>, tokenId: string, now: string): Promise<boolean> {
  const result = await db
    .updateTable('api_tokens')
    .set({ revoked_at: now })
    .where('id', '=', tokenId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function countClients(db: Kysely<DB>): Promise<number> {
  const row = await db
    .selectFrom('api_clients')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

export function listClients(db: Kysely<DB>) {
  return db.selectFrom('api_clients').selectAll().orderBy('created_at').orderBy('id').execute();
}

/** Active (unrevoked) tokens per client. */
export function countActiveTokens(db: Kysely<DB>) {
  return db
    .selectFrom('api_tokens')
    .select((eb) => ['client_id', eb.fn.countAll<number>().as('n')])
    .where('revoked_at', 'is', null)
    .groupBy('client_id')
    .execute();
}

export function findToken(db: Kysely<DB>, tokenId: string) {
  return db
    .selectFrom('api_tokens')
    .select(['id', 'client_id', 'revoked_at'])
    .where('id', '=', tokenId)
    .executeTakeFirst();
}
