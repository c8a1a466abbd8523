import { createPublicKey, type KeyObject } from 'node:crypto';
import {
  CompactSign,
  calculateJwkThumbprint,
  compactVerify,
  createLocalJWKSet,
  decodeProtectedHeader,
  exportJWK,
  type JWK,
} from 'jose';
import Type, { type Static } from 'typebox';
import { strictAjv } from '../validation.js';

/** Names the kind of statement, so a signature made for anything else is never read as a checkpoint. */
export const CHECKPOINT_TYP = 'custos-audit-checkpoint';
const ALG = 'EdDSA';

/**
 * What a checkpoint states: at `at`, the log's last entry was `lastId` with hash `lastHash`,
 * and `count` entries (ids up to `lastId`) led up to it. `lastId` 0 is the empty log.
 */
export const CheckpointClaims = Type.Object(
  {
    lastId: Type.Integer({ minimum: 0 }),
    lastHash: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    count: Type.Integer({ minimum: 0 }),
    at: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type CheckpointClaims = Static<typeof CheckpointClaims>;
const validateClaims = strictAjv.compile<CheckpointClaims>(CheckpointClaims);

/** A public key as verifiers need it: a JWK naming its key id (its RFC 7638 thumbprint). */
export type PublicJwk = JWK & { kid: string };

export class CheckpointError extends Error {}

async function publicJwkOf(key: KeyObject): Promise<PublicJwk> {
  const jwk = await exportJWK(key.type === 'private' ? createPublicKey(key) : key);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: ALG, use: 'sig' };
}

/** Signs checkpoints with the Ed25519 key kept outside the database (crypto/signing-key.ts). */
export class CheckpointSigner {
  private constructor(
    private readonly privateKey: KeyObject,
    readonly publicJwk: PublicJwk,
  ) {}

  static async from(privateKey: KeyObject): Promise<CheckpointSigner> {
    return new CheckpointSigner(privateKey, await publicJwkOf(privateKey));
  }

  get kid(): string {
    return this.publicJwk.kid;
  }

  publicKeyPem(): string {
    return String(createPublicKey(this.privateKey).export({ type: 'spki', format: 'pem' }));
  }

  /** A compact JWS (RFC 7515) of the claims, its header naming the key that verifies it. */
  sign(claims: CheckpointClaims): Promise<string> {
    const payload = new TextEncoder().encode(JSON.stringify(claims));
    return new CompactSign(payload)
      .setProtectedHeader({ alg: ALG, kid: this.kid, typ: CHECKPOINT_TYP })
      .sign(this.privateKey);
  }
}

/**
 * The public keys a verifier trusts, read from a file: one JWK, a JWK Set (old and new
 * keys across a rotation), or an SPKI PEM (as `openssl pkey -pubout` prints it).
 */
export async function parsePublicKeys(text: string, source: string): Promise<PublicJwk[]> {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN PUBLIC KEY-----')) {
    let key: KeyObject;
    try {
      key = createPublicKey(trimmed);
    } catch {
      throw new CheckpointError(`${source}: not a readable public key`);
    }
    if (key.asymmetricKeyType !== 'ed25519')
      throw new CheckpointError(`${source}: not an Ed25519 public key`);
    return [await publicJwkOf(key)];
  }
  let parsed: { keys?: unknown } & JWK;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    throw new CheckpointError(`${source}: neither a PEM public key nor a JWK or JWK Set`);
  }
  const keys = (Array.isArray(parsed.keys) ? parsed.keys : [parsed]) as JWK[];
  return Promise.all(
    keys.map(async (k) => {
      if (k.kty !== 'OKP' || k.crv !== 'Ed25519' || typeof k.x !== 'string' || k.d !== undefined)
        throw new CheckpointError(`${source}: every key must be an Ed25519 public JWK`);
      const { kty, crv, x } = k;
      return { kty, crv, x, kid: await calculateJwkThumbprint({ kty, crv, x }), alg: ALG, use: 'sig' };
    }),
  );
}

/**
 * Verifies a checkpoint's signature with one of the trusted keys and returns what it states;
 * a bad signature, an unknown key or a payload that is not a checkpoint is refused.
 */
export async function verifyCheckpointJws(
  jws: string,
  keys: PublicJwk[],
): Promise<CheckpointClaims & { kid: string }> {
  let kid: string | undefined;
  try {
    kid = decodeProtectedHeader(jws).kid;
  } catch {
    throw new CheckpointError('not a compact JWS');
  }
  if (!keys.some((k) => k.kid === kid))
    throw new CheckpointError(`signed by key ${kid ?? '(none)'}, which is not among the trusted public keys`);
  let verified: Awaited<ReturnType<typeof compactVerify>>;
  try {
    verified = await compactVerify(jws, createLocalJWKSet({ keys }), { algorithms: [ALG] });
  } catch {
    throw new CheckpointError(`signature does not verify with key ${kid}`);
  }
  if (verified.protectedHeader.typ !== CHECKPOINT_TYP)
    throw new CheckpointError(`signed, but not an audit checkpoint (typ ${verified.protectedHeader.typ})`);
  let claims: unknown;
  try {
    claims = JSON.parse(new TextDecoder().decode(verified.payload));
  } catch {
    throw new CheckpointError('the signed payload is not JSON');
  }
  if (!validateClaims(claims)) throw new CheckpointError('the signed payload is not a checkpoint');
  return { ...claims, kid: kid as string };
}
