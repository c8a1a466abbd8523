import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK } from 'jose';

/** A public key as verifiers need it: its key id is its RFC 7638 thumbprint. */
export interface PublicJwk {
  kty: string;
  crv: string;
  x: string;
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
}

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
}

const PRIVATE = '.key';
const PUBLIC = '.pub';

export async function publicJwkOf(key: KeyObject): Promise<PublicJwk> {
  const { kty, crv, x } = await exportJWK(key.type === 'private' ? createPublicKey(key) : key);
  if (kty === undefined || crv === undefined || x === undefined) throw new Error('not an Ed25519 key');
  return { kty, crv, x, kid: await calculateJwkThumbprint({ kty, crv, x }), alg: 'EdDSA', use: 'sig' };
}

/** The public JWK of a key file (private or public PEM). */
export function publicKeyOfFile(path: string): Promise<PublicJwk> {
  const text = readFileSync(path, 'utf8');
  return publicJwkOf(text.includes('PRIVATE KEY') ? createPrivateKey(text) : createPublicKey(text));
}

/** A file name that sorts by creation time: the newest private key is the one that signs. */
function stampName(now: Date): string {
  return now.toISOString().replace(/[-:.]/g, '');
}

/**
 * A directory of Ed25519 signing keys kept outside the database, so that whoever can rewrite
 * the database cannot also sign. `<stamp>.key` files hold private keys (PKCS #8 PEM, mode
 * 0600); the newest by name signs. `<stamp>.pub` files hold public keys (SPKI PEM) of retired
 * keys whose private half was destroyed. Every key, private or public, stays published, so
 * what an old key signed still verifies after a rotation. The directory is read again when
 * its listing changes, so a rotation reaches running processes without a restart.
 */
export class KeyRing {
  private listing = '';
  private loaded: Promise<{ signer: SigningKey | undefined; jwks: PublicJwk[] }> | undefined;

  constructor(
    readonly dir: string,
    /** Make the first key when there is none (signing processes); false for readers. */
    private readonly create: boolean,
  ) {}

  private names(): string[] {
    try {
      return readdirSync(this.dir)
        .filter((n) => n.endsWith(PRIVATE) || n.endsWith(PUBLIC))
        .sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  private current() {
    let names = this.names();
    if (this.create && !names.some((n) => n.endsWith(PRIVATE))) {
      try {
        this.rotate();
      } catch (error) {
        // Another process made the first key in the same millisecond: use theirs.
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      names = this.names();
    }
    const listing = names.join('/');
    if (this.loaded === undefined || listing !== this.listing) {
      this.listing = listing;
      this.loaded = this.load(names);
    }
    return this.loaded;
  }

  private async load(names: string[]) {
    let signer: SigningKey | undefined;
    const jwks: PublicJwk[] = [];
    for (const name of names) {
      const path = join(this.dir, name);
      const text = readFileSync(path, 'utf8');
      let key: KeyObject;
      try {
        key = name.endsWith(PRIVATE) ? createPrivateKey(text) : createPublicKey(text);
      } catch {
        throw new Error(`${path} is not a readable ${name.endsWith(PRIVATE) ? 'private' : 'public'} key`);
      }
      if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${path} is not an Ed25519 key`);
      const jwk = await publicJwkOf(key);
      if (!jwks.some((k) => k.kid === jwk.kid)) jwks.push(jwk);
      if (key.type === 'private') signer = { kid: jwk.kid, privateKey: key };
    }
    return { signer, jwks };
  }

  /** The key that signs now: the newest private key. */
  async signer(): Promise<SigningKey> {
    const { signer } = await this.current();
    if (!signer)
      throw new Error(`${this.dir} holds no private signing key (custos receipt rotate-key makes one)`);
    return signer;
  }

  /** Every key that has signed, newest last: the JWK Set verifiers fetch. */
  async publicKeys(): Promise<PublicJwk[]> {
    return (await this.current()).jwks;
  }

  /** Makes a new signing key, which signs from now on; the old ones stay published. Returns its file. */
  rotate(now = new Date()): string {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ed25519');
    const path = join(this.dir, `${stampName(now)}${PRIVATE}`);
    // 'wx': never overwrite a key that may have signed something.
    writeFileSync(path, String(privateKey.export({ type: 'pkcs8', format: 'pem' })), {
      mode: 0o600,
      flag: 'wx',
    });
    return path;
  }
}
