import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const KEY_BYTES = 32;

function decodeKey(base64: string, source: string): Buffer {
  const key = Buffer.from(base64.trim(), 'base64');
  if (key.length !== KEY_BYTES) throw new Error(`${source} must be ${KEY_BYTES} bytes, base64-encoded`);
  return key;
}

/**
 * The master key that encrypts stored secrets (installation shared secrets, webhook signing
 * secrets) and signs Custos's OAuth access tokens. From CUSTOS_SECRET_KEY when set; else
 * from a key file, created with mode 0600 on first use so a zero-config start still works.
 * Losing the key makes those secrets unreadable: back the file up with the database.
 */
export function loadMasterKey(options: { key: string | undefined; keyFile: string }): Buffer {
  if (options.key) return decodeKey(options.key, 'CUSTOS_SECRET_KEY');
  try {
    return decodeKey(readFileSync(options.keyFile, 'utf8'), `CUSTOS_SECRET_KEY_FILE (${options.keyFile})`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dirname(options.keyFile), { recursive: true });
  const key = randomBytes(KEY_BYTES);
  // 'wx' fails if another process created the file meanwhile; then read theirs.
  try {
    writeFileSync(options.keyFile, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(options.keyFile, 0o600);
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return decodeKey(readFileSync(options.keyFile, 'utf8'), `CUSTOS_SECRET_KEY_FILE (${options.keyFile})`);
  }
}
