import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { StoredCheckpoint, WitnessChannel } from './checkpoint.repository.js';
import type { WitnessPost } from './witness-post.port.js';

export interface WitnessOptions {
  /** Receives each checkpoint as a Standard Webhooks message signed with `secret`. */
  url: string | undefined;
  secret: string | undefined;
  /** Gets one JSON line per checkpoint, appended and fsynced. */
  file: string | undefined;
  timeoutMs: number;
}

/**
 * A checkpoint as a witness keeps it. Only `jws` is evidence (it is signed); the other
 * fields repeat its payload so that people can read the file without decoding it.
 */
export function witnessRecord(cp: StoredCheckpoint) {
  return {
    id: cp.id,
    kid: cp.kid,
    lastId: cp.last_id,
    lastHash: cp.last_hash,
    count: cp.entry_count,
    at: cp.at,
    jws: cp.jws,
  };
}

/**
 * Copies of each checkpoint kept where whoever can change the database cannot reach them:
 * a URL the operator runs (or a service they trust) and/or an append-only file. Each
 * delivery either succeeds or throws a short reason (no personal data: checkpoints hold none,
 * and the reason never holds the URL, which may carry a credential).
 */
export class CheckpointWitness {
  constructor(
    private readonly options: WitnessOptions,
    private readonly send: WitnessPost,
  ) {}

  get channels(): WitnessChannel[] {
    const channels: WitnessChannel[] = [];
    if (this.options.url) channels.push('url_delivered_at');
    if (this.options.file) channels.push('file_written_at');
    return channels;
  }

  async deliver(channel: WitnessChannel, cp: StoredCheckpoint): Promise<void> {
    if (channel === 'url_delivered_at') await this.post(cp);
    else await this.append(cp);
  }

  private async post(cp: StoredCheckpoint): Promise<void> {
    const { url, secret, timeoutMs } = this.options;
    if (!url || !secret) throw new Error('no witness URL');
    const payload = JSON.stringify({ type: 'audit.checkpoint', timestamp: cp.at, data: witnessRecord(cp) });
    let status: number;
    try {
      // The operator chose this address (often on their own network), unlike an app vendor's
      // webhook URL, so private addresses are allowed.
      ({ status } = await this.send({
        url,
        secrets: [secret],
        id: cp.id,
        payload,
        timeoutMs,
        allowPrivate: true,
      }));
    } catch (error) {
      throw new Error(`url: ${(error as NodeJS.ErrnoException).code ?? 'request failed'}`);
    }
    if (status < 200 || status >= 300) throw new Error(`url: HTTP ${status}`);
  }

  private async append(cp: StoredCheckpoint): Promise<void> {
    const file = this.options.file;
    if (!file) throw new Error('no witness file');
    try {
      await mkdir(dirname(file), { recursive: true });
      const handle = await open(file, 'a', 0o640);
      try {
        await handle.appendFile(`${JSON.stringify(witnessRecord(cp))}\n`, 'utf8');
        // A checkpoint the witness may lose in a power cut is not yet witnessed.
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (error) {
      throw new Error(`file: ${(error as NodeJS.ErrnoException).code ?? 'write failed'}`);
    }
  }
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * The checkpoints in a text a verifier was given: a witness file (one JSON object with a
 * `jws` per line), or one compact JWS (a line each for several). Each is numbered by its
 * line; a line that is neither is refused rather than skipped.
 */
export function parseCheckpoints(text: string): { line: number; jws: string }[] {
  const found: { line: number; jws: string }[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '') return;
    let jws: unknown = line;
    if (line.startsWith('{')) {
      try {
        jws = (JSON.parse(line) as { jws?: unknown }).jws;
      } catch {
        jws = undefined;
      }
    }
    if (typeof jws !== 'string' || !COMPACT_JWS.test(jws))
      throw new Error(`line ${index + 1}: neither a checkpoint JWS nor a witness line with one`);
    found.push({ line: index + 1, jws });
  });
  return found;
}
