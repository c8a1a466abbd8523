import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { loadSigningKey } from '../crypto/signing-key.js';
import type { Database } from '../db/dialect.js';
import { AppError } from '../errors/app-error.js';
import { findEventHash, findLastEvent } from './audit.repository.js';
import { GENESIS_HASH } from './audit.service.js';
import { verifyAuditChain } from './audit.verify.js';
import { type CheckpointClaims, CheckpointSigner, verifyCheckpointJws } from './checkpoint.jws.js';
import * as repo from './checkpoint.repository.js';
import { CheckpointWitness, witnessRecord } from './checkpoint.witness.js';

const WITNESS_BATCH = 100;
/** After a failed run (the database unreachable, say), try again this soon rather than a whole interval later. */
const RETRY_MS = 60_000;
const EMPTY_LOG: CheckpointClaims = { lastId: 0, lastHash: GENESIS_HASH, count: 0, at: '' };

function refused(problem: string): AppError {
  return new AppError(
    'CONFLICT',
    `The audit log does not extend the last checkpoint (${problem}); no checkpoint was signed. Run custos audit verify --checkpoint with the witness's copy.`,
  );
}

/**
 * Audit checkpoints: Custos signs where the log ends (`{lastId, lastHash, count, at}`) with
 * a key kept outside the database, keeps the checkpoint and hands it to the witnesses, so a
 * log later cut short or rewritten up to a checkpoint no longer matches it. The hash chain
 * alone cannot show entries cut from its end. Runs on demand (`custos audit checkpoint`,
 * `POST /admin/audit-checkpoints`) and every interval from the worker (`runOnce`).
 */
export class AuditCheckpoints {
  private nextRunMs = 0;

  constructor(
    private readonly database: Database,
    private readonly signer: () => Promise<CheckpointSigner>,
    private readonly witness: CheckpointWitness,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  /** Signs and keeps a checkpoint of the log as it ends now, then delivers every pending one. */
  async checkpoint(): Promise<repo.StoredCheckpoint> {
    const created = await this.create();
    await this.deliverPending();
    return (await repo.findCheckpoint(this.database.db, created.id)) ?? created;
  }

  /**
   * Signs where the log ends now, after checking that it still extends the previous
   * checkpoint (so Custos never signs a history rewritten since), walking only the entries
   * appended since. The count carries forward from that checkpoint.
   */
  async create(): Promise<repo.StoredCheckpoint> {
    const db = this.database.db;
    const signer = await this.signer();
    const from = await this.previous(signer);
    const tip = Number((await findLastEvent(db))?.id ?? 0);
    if (tip < from.lastId) throw refused(`the log ends at entry ${tip}, before entry ${from.lastId}`);
    if (from.lastId > 0 && (await findEventHash(db, from.lastId))?.hash !== from.lastHash)
      throw refused(`entry ${from.lastId} is missing or differs`);
    const walked = await verifyAuditChain(db, 1000, { from, upTo: tip });
    if (walked.broken) throw refused(`entry ${walked.broken.id}: ${walked.broken.problem}`);

    const claims: CheckpointClaims = {
      lastId: walked.lastId ?? 0,
      lastHash: walked.lastHash,
      count: from.count + walked.checked,
      at: new Date().toISOString(),
    };
    const row = {
      id: `ckp_${randomUUID().replaceAll('-', '')}`,
      kid: signer.kid,
      last_id: claims.lastId,
      last_hash: claims.lastHash,
      entry_count: claims.count,
      at: claims.at,
      jws: await signer.sign(claims),
      url_delivered_at: null,
      file_written_at: null,
      witness_error: null,
    };
    return repo.insertCheckpoint(db, row);
  }

  /**
   * Delivers every checkpoint a witness has not got yet, oldest first, so a witness that was
   * down gets them all, in order, at the next run. A failure is recorded and logged and stops
   * that witness until the next run; nothing is dropped.
   */
  async deliverPending(): Promise<number> {
    let delivered = 0;
    for (const channel of this.witness.channels) delivered += await this.deliverTo(channel);
    return delivered;
  }

  /** The worker's periodic task: a checkpoint each interval while the log grows, and witness retries. */
  async runOnce(nowMs = Date.now()): Promise<number> {
    if (this.intervalMs === 0 || nowMs < this.nextRunMs) return 0;
    this.nextRunMs = nowMs + Math.min(this.intervalMs, RETRY_MS);
    const db = this.database.db;
    // Read from the database, not remembered: several processes may run the worker.
    const latest = await repo.findLatestCheckpoint(db);
    const dueAt = latest ? Date.parse(latest.at) + this.intervalMs : nowMs;
    const tip = await findLastEvent(db);
    // Grown, or (an alarm, raised by create) cut or rewritten: only an unchanged tip is skipped.
    const moved = latest
      ? Number(tip?.id ?? 0) !== Number(latest.last_id) || (tip?.hash ?? GENESIS_HASH) !== latest.last_hash
      : tip !== undefined;
    let done = 0;
    if (nowMs >= dueAt && moved) {
      try {
        await this.create();
        done++;
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        this.log.error({ problem: error.message }, 'audit checkpoint refused');
      }
    }
    this.nextRunMs = nowMs >= dueAt ? nowMs + this.intervalMs : dueAt;
    return done + (await this.deliverPending());
  }

  /** A page of checkpoints, newest first, for the admin API. */
  async list(q: { limit: number; cursor?: string }) {
    const rows = await repo.listCheckpoints(this.database.db, {
      limit: q.limit,
      beforeSeq: q.cursor === undefined ? undefined : Number(q.cursor),
    });
    const last = rows.at(-1);
    return {
      values: rows.map(checkpointView),
      nextCursor: rows.length === q.limit && last ? String(last.seq) : null,
    };
  }

  /**
   * Where the previous checkpoint ends, its signature checked with the current key. One
   * signed by an earlier key (before a rotation) cannot be checked here, so the next
   * checkpoint walks the whole log from the genesis instead.
   */
  private async previous(signer: CheckpointSigner): Promise<CheckpointClaims> {
    const latest = await repo.findLatestCheckpoint(this.database.db);
    if (!latest || latest.kid !== signer.kid) return EMPTY_LOG;
    try {
      return await verifyCheckpointJws(latest.jws, [signer.publicJwk]);
    } catch (error) {
      throw refused(`checkpoint ${latest.id}: ${(error as Error).message}`);
    }
  }

  private async deliverTo(channel: repo.WitnessChannel): Promise<number> {
    const db = this.database.db;
    let delivered = 0;
    let afterSeq = 0;
    for (;;) {
      const batch = await repo.findUnwitnessed(db, channel, afterSeq, WITNESS_BATCH);
      for (const cp of batch) {
        try {
          await this.witness.deliver(channel, cp);
        } catch (error) {
          const reason = (error as Error).message;
          await repo.recordWitnessFailure(db, cp.seq, reason);
          this.log.warn(
            { checkpoint: cp.id, reason },
            'audit checkpoint not witnessed; retried at the next run',
          );
          return delivered;
        }
        await repo.recordWitnessed(db, cp.seq, channel, new Date().toISOString());
        delivered++;
        afterSeq = cp.seq;
      }
      if (batch.length < WITNESS_BATCH) return delivered;
    }
  }
}

/** A checkpoint with its witness state, as the admin API shows it. */
export function checkpointView(cp: repo.StoredCheckpoint) {
  return {
    ...witnessRecord(cp),
    urlDeliveredAt: cp.url_delivered_at,
    fileWrittenAt: cp.file_written_at,
    witnessAttempts: cp.witness_attempts,
    witnessError: cp.witness_error,
  };
}

/** The signing key is read (or made) at the first signature, so processes that never sign never touch it. */
export function checkpointSigner(config: Config): () => Promise<CheckpointSigner> {
  let signer: Promise<CheckpointSigner> | undefined;
  return () => {
    signer ??= CheckpointSigner.from(
      loadSigningKey(
        { pem: config.auditSigningKey, keyFile: config.auditSigningKeyFile, create: true },
        { pem: 'CUSTOS_AUDIT_SIGNING_KEY', file: 'CUSTOS_AUDIT_SIGNING_KEY_FILE' },
      ),
    );
    return signer;
  };
}

export function createAuditCheckpoints(config: Config, database: Database, log: Logger): AuditCheckpoints {
  const witness = new CheckpointWitness({
    url: config.auditWitnessUrl,
    secret: config.auditWitnessSecret,
    file: config.auditWitnessFile,
    timeoutMs: config.webhookTimeoutMs,
  });
  return new AuditCheckpoints(
    database,
    checkpointSigner(config),
    witness,
    config.auditCheckpointIntervalMs,
    log,
  );
}
