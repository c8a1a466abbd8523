import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { SecretBox } from '../crypto/secret-box.js';
import type { Database } from '../db/dialect.js';
import * as repo from './grant.repository.js';

const ALGORITHM = 'RS256';
const context = (kid: string) => `oauth-signing-key:${kid}`;

async function newKey(database: Database, secrets: SecretBox, now: Date): Promise<string> {
  const { privateKey } = await generateKeyPair(ALGORITHM, { extractable: true, modulusLength: 2048 });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  const privateJwk: JWK = { ...jwk, kid, alg: ALGORITHM, use: 'sig' };
  await repo.insertSigningKey(database.db, {
    kid,
    private_jwk_enc: secrets.encrypt(JSON.stringify(privateJwk), context(kid)),
    created_at: now.toISOString(),
  });
  return kid;
}

/**
 * The authorization server's private signing keys (RSA, RS256), newest first: the newest
 * signs, the others stay published in the JWKS so what they signed still verifies. Stored
 * encrypted under the master key; the first start creates one.
 */
export async function loadSigningKeys(database: Database, secrets: SecretBox, now: Date): Promise<JWK[]> {
  let rows = await repo.listLiveSigningKeys(database.db);
  if (rows.length === 0) {
    await newKey(database, secrets, now);
    rows = await repo.listLiveSigningKeys(database.db);
  }
  return rows.map((row) => JSON.parse(secrets.decrypt(row.private_jwk_enc, context(row.kid))) as JWK);
}

/**
 * Rotation: a new key becomes the signing key (at the next start of the server), the one
 * before it stays published for what it signed, and older ones are retired. Returns the new
 * key id and the retired ones.
 */
export async function rotateSigningKey(
  database: Database,
  secrets: SecretBox,
  now: Date,
): Promise<{ kid: string; retired: string[] }> {
  const before = await repo.listLiveSigningKeys(database.db);
  const kid = await newKey(database, secrets, now);
  const retired = before.slice(1).map((row) => row.kid);
  await repo.retireSigningKeys(database.db, retired, now.toISOString());
  return { kid, retired };
}
