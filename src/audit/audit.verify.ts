import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { readChainBatch } from './audit.repository.js';
import { GENESIS_HASH, hashOf } from './audit.service.js';

export interface ChainBreak {
  /** The first entry whose link does not hold. */
  id: number;
  /**
   * `hash mismatch`: the entry's fields were changed after it was written.
   * `prev_hash mismatch`: the entry does not follow the one before it: an entry was
   * deleted, inserted or reordered (or this entry's prev_hash was edited).
   */
  problem: 'hash mismatch' | 'prev_hash mismatch';
}

export interface ChainReport {
  checked: number;
  lastId: number | null;
  lastHash: string;
  broken?: ChainBreak;
}

/**
 * Walks the whole chain from the genesis hash, in id order, `batchSize` rows at a time, so
 * memory stays constant however long the log is. Stops at the first broken link.
 */
export async function verifyAuditChain(db: Kysely<DB>, batchSize = 1000): Promise<ChainReport> {
  let expectedPrev = GENESIS_HASH;
  let lastId = 0;
  let checked = 0;
  for (;;) {
    const rows = await readChainBatch(db, lastId, batchSize);
    for (const { id, hash, ...fields } of rows) {
      const numericId = Number(id);
      if (fields.prev_hash !== expectedPrev)
        return {
          checked,
          lastId: lastId || null,
          lastHash: expectedPrev,
          broken: { id: numericId, problem: 'prev_hash mismatch' },
        };
      if (hashOf(fields) !== hash)
        return {
          checked,
          lastId: lastId || null,
          lastHash: expectedPrev,
          broken: { id: numericId, problem: 'hash mismatch' },
        };
      expectedPrev = hash;
      lastId = numericId;
      checked++;
    }
    if (rows.length < batchSize) return { checked, lastId: lastId || null, lastHash: expectedPrev };
  }
}
