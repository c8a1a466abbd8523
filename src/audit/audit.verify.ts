import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';
import { readChainBatch } from './audit.repository.js';
import { GENESIS_HASH, hashOf } from './audit.service.js';
import type { CheckpointClaims } from './checkpoint.jws.js';

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

/** The first checkpoint the log does not match. */
export interface CheckpointMismatch {
  checkpoint: CheckpointClaims;
  /**
   * `log ends before it`: the log's last entry is older than the checkpoint's: its tail was cut.
   * `entry missing`: the checkpoint's last entry is gone though later entries exist.
   * `hash differs`: the entry at `lastId` is not the one signed: the log up to it was rewritten
   * (an entry deleted, inserted or changed, and every later hash recomputed).
   * `count differs`: not as many entries lead up to it as were signed.
   */
  problem: 'log ends before it' | 'entry missing' | 'hash differs' | 'count differs';
}

export interface ChainReport {
  checked: number;
  /** False when the walk stopped early (its `limit`, or aborted): the entries after `lastId` were not checked. */
  complete: boolean;
  lastId: number | null;
  lastHash: string;
  broken?: ChainBreak;
  /** How many of the given checkpoints the log was found to match before the walk stopped. */
  checkpointsMatched: number;
  mismatch?: CheckpointMismatch;
}

export interface ChainScope {
  /** Signed statements of where the log ended, each checked as the walk passes its entry. */
  checkpoints?: CheckpointClaims[];
  /** Start after this entry, taken as verified (a checkpoint), instead of at the genesis. */
  from?: { lastId: number; lastHash: string };
  /** Stop after this entry. */
  upTo?: number;
  /** Stop after walking this many entries (the report is then not `complete`). */
  limit?: number;
}

/**
 * Walks the chain in id order, `batchSize` rows at a time, so memory stays constant however
 * long the log is, from the genesis hash (or `scope.from`), and stops at the first broken
 * link or the first checkpoint the log does not match. `checked` counts the entries walked,
 * so from the genesis it is the number of entries up to the one being checked: what a
 * checkpoint's `count` states.
 */
export async function verifyAuditChain(
  db: Kysely<DB>,
  batchSize = 1000,
  scope: ChainScope = {},
  run: { onBatch?: (checked: number) => void; signal?: AbortSignal } = {},
): Promise<ChainReport> {
  let expectedPrev = scope.from?.lastHash ?? GENESIS_HASH;
  let lastId = scope.from?.lastId ?? 0;
  let checked = 0;
  let checkpointsMatched = 0;
  const pending = [...(scope.checkpoints ?? [])].sort((a, b) => a.lastId - b.lastId);
  const report = (outcome: Pick<ChainReport, 'broken' | 'mismatch'> = {}, complete = true): ChainReport => ({
    checked,
    complete,
    lastId: lastId || null,
    lastHash: expectedPrev,
    checkpointsMatched,
    ...outcome,
  });
  /** Checks the checkpoints that end at the entry just walked (or at the empty log). */
  const matchCheckpointsAt = (id: number): CheckpointMismatch | undefined => {
    for (let next = pending[0]; next && next.lastId <= id; next = pending[0]) {
      pending.shift();
      if (next.lastId < id) return { checkpoint: next, problem: 'entry missing' };
      if (next.lastHash !== expectedPrev) return { checkpoint: next, problem: 'hash differs' };
      if (next.count !== checked) return { checkpoint: next, problem: 'count differs' };
      checkpointsMatched++;
    }
    return undefined;
  };

  let mismatch = matchCheckpointsAt(lastId);
  if (mismatch) return report({ mismatch });
  const limit = scope.limit ?? Number.POSITIVE_INFINITY;
  for (;;) {
    const wanted = Math.min(batchSize, limit - checked);
    if (run.signal?.aborted || wanted <= 0) {
      // Stopped early: complete only if nothing was left to walk.
      const more = await readChainBatch(db, lastId, 1, scope.upTo);
      if (more.length > 0) return report({}, false);
      break;
    }
    const rows = await readChainBatch(db, lastId, wanted, scope.upTo);
    for (const { id, hash, ...fields } of rows) {
      const numericId = Number(id);
      if (fields.prev_hash !== expectedPrev)
        return report({ broken: { id: numericId, problem: 'prev_hash mismatch' } });
      if (hashOf(fields) !== hash) return report({ broken: { id: numericId, problem: 'hash mismatch' } });
      // A checkpoint ending between the previous entry and this one: its entry was deleted.
      const skipped = pending[0];
      if (skipped && skipped.lastId < numericId)
        return report({ mismatch: { checkpoint: skipped, problem: 'entry missing' } });
      expectedPrev = hash;
      lastId = numericId;
      checked++;
      mismatch = matchCheckpointsAt(numericId);
      if (mismatch) return report({ mismatch });
    }
    run.onBatch?.(checked);
    if (rows.length < wanted) break;
  }
  const unreached = pending[0];
  return unreached
    ? report({ mismatch: { checkpoint: unreached, problem: 'log ends before it' } })
    : report();
}
