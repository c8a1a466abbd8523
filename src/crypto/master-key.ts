import { randomBytes } from 'node:crypto';
import { readOrCreateKeyFile } from './key-file.js';

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
  const text = readOrCreateKeyFile(options.keyFile, () => `${randomBytes(KEY_BYTES).toString('base64')}\n`);
  return decodeKey(text, `CUSTOS_SECRET_KEY_FILE (${options.keyFile})`);
}
