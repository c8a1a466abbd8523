import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';

const PARAMS = { N: 16_384, r: 8, p: 1 } as const;
const KEY_BYTES = 32;
const SALT_BYTES = 16;

function scryptAsync(secret: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(secret, salt, KEY_BYTES, options, (error, key) => (error ? reject(error) : resolve(key))),
  );
}

function format(salt: Buffer, key: Buffer): string {
  return ['scrypt', PARAMS.N, PARAMS.r, PARAMS.p, salt.toString('base64url'), key.toString('base64url')].join(
    '$',
  );
}

/**
 * Verified in place of a missing hash: the current parameters and a salt of the usual size,
 * so that checking a secret for an id that does not exist costs exactly what a wrong secret
 * for an existing id costs, and timing does not tell which ids exist.
 */
const ABSENT_HASH = format(randomBytes(SALT_BYTES), Buffer.alloc(KEY_BYTES));

/**
 * OAuth client secrets may be chosen by operators (low entropy), so they are stored as a
 * salted scrypt hash, not a bare SHA-256. Format: `scrypt$N$r$p$salt$hash` (base64url).
 */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  return format(salt, await scryptAsync(secret, salt, PARAMS));
}

/** Whether `secret` matches `stored`; undefined (no such secret) does the same work and is false. */
export async function verifySecret(secret: string, stored: string | undefined): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = (stored ?? ABSENT_HASH).split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scryptAsync(secret, Buffer.from(salt, 'base64url'), {
    N: Number(n),
    r: Number(r),
    p: Number(p),
  });
  return stored !== undefined && actual.length === expected.length && timingSafeEqual(actual, expected);
}
