import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { loadSigningKey } from '../crypto/signing-key.js';
import type { Database } from '../db/dialect.js';
import { AppError } from '../errors/app-error.js';
import type { LongRun } from '../shared/progress.js';
import { countEvents, findEventHash, findLastEvent } from './audit.repository.js';
import { GENESIS_HASH } from './audit.service.js';
import { type ChainReport, verifyAuditChain } from './audit.verify.js';
import {
  type CheckpointClaims,
  CheckpointSigner,
  type PublicJwk,
  verifyCheckpointJws,
} from './checkpoint.jws.js';
import * as repo from './checkpoint.repository.js';
import { CheckpointWitness, witnessRecord } from './checkpoint.witness.js';
import type { WitnessPost } from './witness-post.port.js';

const WITNESS_BATCH = 100;
const EMPTY_LOG: CheckpointClaims = { lastId: 0, lastHash: GENESIS_HASH, count: 0, at: '' };

function refused(problem: string): AppError {
  return new AppError(
    'CONFLICT',
    `The audit log does not extend the last checkpoint (${problem}); no checkpoint was signed. Run custos audit verify --checkpoint with the witness's copy.`,
  );
}

/** What verifying the log found, and the latest checkpoint Custos keeps (what it covers). */
export interface LogVerification extends ChainReport {
  latestCheckpoint: repo.StoredCheckpoint | undefined;
}

/** A witness that did not take a checkpoint; it gets it (and every later one) at the next run. */
export interface WitnessFailure {
  channel: repo.WitnessChannel;
  checkpoint: string;
  reason: string;
}

/**
 * Audit checkpoints: Custos signs where the log ends (`{lastId, lastHash, count, at}`) with
 * a key kept outside the database, keeps the checkpoint and hands it to the witnesses, so a
 * log later cut short or rewritten up to a checkpoint no longer matches it. The hash chain
 * alone cannot show entries cut from its end. Runs on demand (`custos audit checkpoint`,
 * `POST /admin/audit-checkpoints`) and as the scheduled job `audit.checkpoint` (audit.jobs.ts).
 */
export class AuditCheckpoints {
  constructor(
    private readonly database: Database,
    private readonly signer: () => Promise<CheckpointSigner>,
    private readonly witness: CheckpointWitness,
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
  async deliverPending(): Promise<{ delivered: number; failures: WitnessFailure[] }> {
    let delivered = 0;
    const failures: WitnessFailure[] = [];
    for (const channel of this.witness.channels) {
      const outcome = await this.deliverTo(channel);
      delivered += outcome.delivered;
      if (outcome.failure) failures.push(outcome.failure);
    }
    return { delivered, failures };
  }

  /**
   * The scheduled run: signs a checkpoint if the log moved since the latest one (read from
   * the database: several processes run the worker), then delivers what the witnesses lack.
   * A refused checkpoint (the log was cut or rewritten) or a witness that failed ends the run
   * in an error, after the deliveries, so the job is retried with backoff and, once out of
   * attempts, shows as failed with the reason (`custos jobs list --status failed`).
   */
  async runScheduled(): Promise<{ signed: number; delivered: number }> {
    const db = this.database.db;
    const latest = await repo.findLatestCheckpoint(db);
    const tip = await findLastEvent(db);
    // Grown, or (an alarm, raised by create) cut or rewritten: only an unchanged tip is skipped.
    const moved = latest
      ? Number(tip?.id ?? 0) !== Number(latest.last_id) || (tip?.hash ?? GENESIS_HASH) !== latest.last_hash
      : tip !== undefined;
    let signed = 0;
    let refusal: AppError | undefined;
    if (moved) {
      try {
        await this.create();
        signed = 1;
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        this.log.error({ problem: error.message }, 'audit checkpoint refused');
        refusal = error;
      }
    }
    const { delivered, failures } = await this.deliverPending();
    if (refusal) throw refusal;
    if (failures.length > 0)
      throw new Error(
        `witness delivery failed: ${failures.map((f) => `${f.channel} (${f.checkpoint}): ${f.reason}`).join('; ')}`,
      );
    return { signed, delivered };
  }

  /**
   * Walks the hash chain from the genesis in bounded batches and compares it with
   * `checkpoints` (signed statements a witness kept: their signatures already checked).
   * `limit` bounds the walk (the admin API); the answer then says it is not complete.
   */
  async verify(
    options: { checkpoints?: CheckpointClaims[]; batchSize?: number; limit?: number } & LongRun = {},
  ): Promise<LogVerification> {
    const db = this.database.db;
    const { onProgress, signal } = options;
    const total = onProgress ? await countEvents(db) : 0;
    onProgress?.(0, total);
    const report = await verifyAuditChain(
      db,
      options.batchSize ?? 1000,
      { checkpoints: options.checkpoints ?? [], limit: options.limit },
      { signal, onBatch: onProgress && ((checked) => onProgress(checked, Math.max(total, checked))) },
    );
    return { ...report, latestCheckpoint: await repo.findLatestCheckpoint(db) };
  }

  /**
   * The claims of checkpoints given as compact JWS (a witness's copies), each signature
   * checked with Custos's signing key; one that does not verify is refused, naming it.
   */
  async claimsOf(jwsList: string[], field = 'checkpoints'): Promise<CheckpointClaims[]> {
    const keys = [(await this.signer()).publicJwk];
    const claims: CheckpointClaims[] = [];
    for (const [i, jws] of jwsList.entries()) {
      try {
        claims.push(await verifyCheckpointJws(jws, keys));
      } catch (error) {
        throw new AppError('VALIDATION_FAILED', `${field}.${i}: ${(error as Error).message}`, {
          field: `${field}.${i}`,
        });
      }
    }
    return claims;
  }

  /** The public key that verifies checkpoints, for verifiers (the signing key is made if needed). */
  async publicKey(): Promise<{ jwk: PublicJwk; pem: string }> {
    const signer = await this.signer();
    return { jwk: signer.publicJwk, pem: signer.publicKeyPem() };
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

  private async deliverTo(
    channel: repo.WitnessChannel,
  ): Promise<{ delivered: number; failure?: WitnessFailure }> {
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
          return { delivered, failure: { channel, checkpoint: cp.id, reason } };
        }
        await repo.recordWitnessed(db, cp.seq, channel, new Date().toISOString());
        delivered++;
        afterSeq = cp.seq;
      }
      if (batch.length < WITNESS_BATCH) return { delivered };
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

/** `post` sends a checkpoint to the witness URL (CUSTOS_AUDIT_WITNESS_URL) when there is one. */
export function createAuditCheckpoints(
  config: Config,
  database: Database,
  log: Logger,
  post: WitnessPost,
): AuditCheckpoints {
  const witness = new CheckpointWitness(
    {
      url: config.auditWitnessUrl,
      secret: config.auditWitnessSecret,
      file: config.auditWitnessFile,
      timeoutMs: config.webhookTimeoutMs,
    },
    post,
  );
  return new AuditCheckpoints(database, checkpointSigner(config), witness, log);
}
