import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { CheckpointMismatch } from '../audit/audit.verify.js';
import {
  type CheckpointClaims,
  CheckpointError,
  CheckpointSigner,
  type PublicJwk,
  parsePublicKeys,
  verifyCheckpointJws,
} from '../audit/checkpoint.jws.js';
import { parseCheckpoints } from '../audit/checkpoint.witness.js';
import type { Config } from '../config.js';
import { loadSigningKey } from '../crypto/signing-key.js';
import { withContext } from './context.js';
import { withProgress } from './progress.js';

/** A file, or an http(s) URL fetched within `timeoutMs`. */
export async function readSource(source: string, timeoutMs: number): Promise<string> {
  if (!/^https?:\/\//i.test(source)) {
    try {
      return readFileSync(source, 'utf8');
    } catch (error) {
      throw new CheckpointError(`${source}: ${(error as NodeJS.ErrnoException).code ?? 'not readable'}`);
    }
  }
  let response: Response;
  try {
    response = await fetch(source, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw new CheckpointError(`${source}: ${(error as Error).message}`);
  }
  if (!response.ok) throw new CheckpointError(`${source}: HTTP ${response.status}`);
  return response.text();
}

/** The keys checkpoints must verify with: the given file's, else the configured signing key's public half. */
async function trustedKeys(config: Config, publicKeyFile: string | undefined): Promise<PublicJwk[]> {
  if (publicKeyFile)
    return parsePublicKeys(await readSource(publicKeyFile, config.webhookTimeoutMs), publicKeyFile);
  const key = loadSigningKey(
    { pem: config.auditSigningKey, keyFile: config.auditSigningKeyFile, create: false },
    { pem: 'CUSTOS_AUDIT_SIGNING_KEY', file: 'CUSTOS_AUDIT_SIGNING_KEY_FILE' },
  );
  return [(await CheckpointSigner.from(key)).publicJwk];
}

/** Every checkpoint in the source, each signature verified; one that does not verify refuses them all. */
async function readCheckpoints(source: string, keys: PublicJwk[], timeoutMs: number) {
  let found: { line: number; jws: string }[];
  try {
    found = parseCheckpoints(await readSource(source, timeoutMs));
  } catch (error) {
    throw new CheckpointError(`${source}: ${(error as Error).message}`);
  }
  if (found.length === 0) throw new CheckpointError(`${source}: holds no checkpoint`);
  const claims: CheckpointClaims[] = [];
  for (const { line, jws } of found) {
    try {
      claims.push(await verifyCheckpointJws(jws, keys));
    } catch (error) {
      throw new CheckpointError(
        `checkpoint refused (${source}, line ${line}): ${(error as Error).message}; nothing was compared`,
      );
    }
  }
  return claims;
}

function describeMismatch({ checkpoint: cp, problem }: CheckpointMismatch, end: string): string {
  const signed = `the checkpoint signed ${cp.at} (entry ${cp.lastId}, ${cp.count} entries)`;
  switch (problem) {
    case 'log ends before it':
      return `the audit log ends at ${end}, before ${signed}: entries were cut from its end`;
    case 'entry missing':
      return `entry ${cp.lastId}, where ${signed} ends, is missing: entries were deleted`;
    case 'hash differs':
      return `entry ${cp.lastId} differs from ${signed}: the log up to it was rewritten`;
    case 'count differs':
      return `the number of entries up to entry ${cp.lastId} differs from ${signed}: entries were deleted or inserted`;
  }
}

/** `custos audit …`: check that the audit log is the one that was written. */
export function registerAuditCommands(program: Command, config: () => Config, say: (line: string) => void) {
  const audit = program.command('audit').description('The tamper-evident audit log');

  audit
    .command('verify')
    .description(
      'Walk the hash chain from the first entry and compare it with signed checkpoints; report the first break and exit 1',
    )
    .option('--batch-size <n>', 'entries read per query (memory stays bounded)', '1000')
    .option('--checkpoint <file|url>', 'a witness file (one JSON line per checkpoint) or a checkpoint JWS')
    .option('--public-key <file>', 'the public key(s) checkpoints verify with: a JWK, a JWK Set or a PEM')
    .action(async (opts: { batchSize: string; checkpoint?: string; publicKey?: string }) => {
      const cfg = config();
      if (opts.publicKey && !opts.checkpoint)
        throw new CheckpointError('--public-key verifies checkpoints: give them with --checkpoint');
      const batchSize = Number(opts.batchSize);
      const checkpoints = opts.checkpoint
        ? await readCheckpoints(opts.checkpoint, await trustedKeys(cfg, opts.publicKey), cfg.webhookTimeoutMs)
        : [];
      const report = await withContext(cfg, (ctx) =>
        withProgress('audit verify', 'entries', (onProgress) =>
          ctx.auditCheckpoints.verify({
            checkpoints,
            batchSize: Number.isInteger(batchSize) && batchSize > 0 ? batchSize : 1000,
            onProgress,
          }),
        ),
      );
      if (report.broken) {
        process.stderr.write(
          `custos: audit chain broken at entry ${report.broken.id}: ${report.broken.problem} (${report.checked} entries before it verified)\n`,
        );
        process.exitCode = 1;
        return;
      }
      if (report.mismatch) {
        const end = report.lastId ? `entry ${report.lastId} (${report.checked} entries)` : 'the empty log';
        process.stderr.write(`custos: ${describeMismatch(report.mismatch, end)}\n`);
        process.exitCode = 1;
        return;
      }
      say(
        `Audit chain intact: ${report.checked} entries; last entry ${report.lastId ?? '-'}, hash ${report.lastHash}`,
      );
      const latest = checkpoints.reduce<CheckpointClaims | undefined>(
        (a, b) => (a && a.lastId >= b.lastId ? a : b),
        undefined,
      );
      if (latest)
        say(
          `Matches ${checkpoints.length} checkpoint(s); the latest, signed ${latest.at}, covers ${latest.count} entries up to entry ${latest.lastId}; ${report.checked - latest.count} entries after it are not covered yet`,
        );
    });

  audit
    .command('checkpoint')
    .description(
      'Sign a checkpoint of the log as it ends now, keep it and send it to the witnesses; prints the JWS alone on the last line',
    )
    .action(async () => {
      const cfg = config();
      const cp = await withContext(cfg, (ctx) => ctx.auditCheckpoints.checkpoint());
      say(
        `Checkpoint ${cp.id}: ${cp.entry_count} entries up to entry ${cp.last_id}, hash ${cp.last_hash}; signed ${cp.at} with key ${cp.kid}`,
      );
      const state = (done: string | null, verb: string) =>
        done ? `${verb} ${done}` : `not ${verb} (${cp.witness_error ?? 'pending'}); retried at the next run`;
      if (cfg.auditWitnessUrl) say(`Witness URL: ${state(cp.url_delivered_at, 'delivered')}`);
      if (cfg.auditWitnessFile) say(`Witness file: ${state(cp.file_written_at, 'written')}`);
      if (!cfg.auditWitnessUrl && !cfg.auditWitnessFile)
        say('No witness configured: keep this checkpoint somewhere the database cannot reach.');
      say(cp.jws);
    });

  audit
    .command('public-key')
    .description(
      'Print the public key that verifies checkpoints (a JWK; --pem for SPKI PEM), making the key if needed',
    )
    .option('--pem', 'print a PEM public key instead of a JWK')
    .action(async (opts: { pem?: boolean }) => {
      const key = await withContext(config(), (ctx) => ctx.auditCheckpoints.publicKey());
      say(opts.pem ? key.pem.trimEnd() : JSON.stringify(key.jwk));
    });
}
