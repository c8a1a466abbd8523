import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readOrCreateKeyFile } from './key-file.js';

export interface SigningKeySource {
  /** The private key itself (PKCS #8 PEM), e.g. from a secret store; wins over the file. */
  pem: string | undefined;
  keyFile: string;
  /** Generate the file when it is missing (signing); false for commands that only verify. */
  create: boolean;
}

function parseEd25519(pem: string, source: string): KeyObject {
  let key: KeyObject;
  try {
    // A PEM passed through an environment variable often arrives with escaped newlines.
    key = createPrivateKey(pem.replaceAll('\\n', '\n'));
  } catch {
    throw new Error(`${source} must hold an Ed25519 private key in PKCS #8 PEM`);
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new Error(`${source} must hold an Ed25519 private key, not ${key.asymmetricKeyType}`);
  return key;
}

/**
 * An Ed25519 private key kept outside the database, so that whoever can rewrite the database
 * cannot also sign. From the given PEM when set; else from the key file, created with mode
 * 0600 on first use (`openssl genpkey -algorithm ed25519` makes an equivalent file).
 */
export function loadSigningKey(
  options: SigningKeySource,
  names = { pem: 'PEM', file: 'key file' },
): KeyObject {
  if (options.pem) return parseEd25519(options.pem, names.pem);
  const source = `${names.file} (${options.keyFile})`;
  if (!options.create) {
    let text: string;
    try {
      text = readFileSync(options.keyFile, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      throw new Error(`${source} does not exist: no signing key has been made yet`);
    }
    return parseEd25519(text, source);
  }
  const text = readOrCreateKeyFile(options.keyFile, () =>
    String(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' })),
  );
  return parseEd25519(text, source);
}
