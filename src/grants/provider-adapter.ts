import type { Database } from '../db/dialect.js';
import * as repo from './grant.repository.js';

/** A record as the protocol library hands it over: its own JSON, with the fields we index. */
type Payload = Record<string, unknown> & {
  grantId?: string;
  uid?: string;
  userCode?: string;
  accountId?: string;
  clientId?: string;
  consumed?: number;
};

/** How the library's storage interface is shaped (one instance per model name). */
export interface ProviderAdapter {
  upsert(id: string, payload: Payload, expiresIn?: number): Promise<void>;
  find(id: string): Promise<Payload | undefined>;
  findByUid(uid: string): Promise<Payload | undefined>;
  findByUserCode(userCode: string): Promise<Payload | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
}

/** Where OAuth clients come from: the directory, never this table. */
export type ClientSource = (clientId: string) => Promise<Payload | undefined>;

const epochSeconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/**
 * The authorization server's storage on Custos's database (both engines): one row per record
 * in `oauth_records`, keyed by model and id, with the columns the library looks records up by
 * (uid, user code, grant) and the account and client, so a person's grants are one indexed read.
 * Expired records are never answered, and are deleted by `grants.expired-cleanup`.
 */
export function adapterFactory(
  database: Database,
  clients: ClientSource,
  now: () => Date,
): new (
  model: string,
) => ProviderAdapter {
  return class KyselyAdapter implements ProviderAdapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: Payload, expiresIn?: number): Promise<void> {
      const at = now();
      await repo.upsertRecord(database.db, {
        model: this.model,
        id,
        payload: JSON.stringify(payload),
        // A grant's records all point at it; the grant itself too, so one delete ends it all.
        grant_id: this.model === repo.GRANT_MODEL ? id : (payload.grantId ?? null),
        uid: payload.uid ?? null,
        user_code: payload.userCode ?? null,
        account_id: payload.accountId ?? null,
        client_id: payload.clientId ?? null,
        created_at: at.toISOString(),
        expires_at: expiresIn ? new Date(at.getTime() + expiresIn * 1000).toISOString() : null,
      });
    }

    async find(id: string): Promise<Payload | undefined> {
      if (this.model === 'Client') return clients(id);
      return this.live(await repo.findRecord(database.db, this.model, id));
    }

    async findByUid(uid: string): Promise<Payload | undefined> {
      return this.live(await repo.findRecordBy(database.db, this.model, 'uid', uid));
    }

    async findByUserCode(userCode: string): Promise<Payload | undefined> {
      return this.live(await repo.findRecordBy(database.db, this.model, 'user_code', userCode));
    }

    async consume(id: string): Promise<void> {
      await repo.consumeRecord(database.db, this.model, id, now().toISOString());
    }

    async destroy(id: string): Promise<void> {
      if (this.model === repo.GRANT_MODEL) await repo.deleteGrantRecords(database.db, id);
      else await repo.deleteRecord(database.db, this.model, id);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await repo.deleteGrantRecordsOf(database.db, this.model, grantId);
    }

    private live(
      row: { payload: string; expires_at: string | null; consumed_at: string | null } | undefined,
    ): Payload | undefined {
      if (!row) return undefined;
      if (row.expires_at !== null && row.expires_at <= now().toISOString()) return undefined;
      const payload = JSON.parse(row.payload) as Payload;
      if (row.consumed_at !== null) payload.consumed = epochSeconds(row.consumed_at);
      return payload;
    }
  };
}
