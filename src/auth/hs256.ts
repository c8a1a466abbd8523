import { createHmac, type KeyObject, timingSafeEqual } from 'node:crypto';

type JsonObject = Record<string, unknown>;

/** A compact JWS (RFC 7515 §7.1) split once: header and payload decoded, signing input and signature kept. */
export interface DecodedJws {
  header: JsonObject;
  payload: JsonObject;
  signingInput: string;
  signature: string;
}

/** A JWS segment's JSON object, or undefined for anything else. */
function decodeSegment(segment: string): JsonObject | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as JsonObject)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Three segments, the first two JSON objects; undefined for anything else. Verifies nothing. */
export function decodeJws(token: string): DecodedJws | undefined {
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  if (first <= 0 || second <= first + 1 || token.indexOf('.', second + 1) !== -1) return undefined;
  const header = decodeSegment(token.slice(0, first));
  const payload = header && decodeSegment(token.slice(first + 1, second));
  if (!header || !payload) return undefined;
  return { header, payload, signingInput: token.slice(0, second), signature: token.slice(second + 1) };
}

/**
 * The HS256 signature check, done with node:crypto. WebCrypto (which jose uses) runs each
 * HMAC on the thread pool, ten times the cost of the HMAC itself, and this check is on the
 * path of every app call. The comparison is constant-time; the header must say HS256, so
 * no `alg` confusion (none, RS256 with the secret as a public key) is possible.
 */
export function hasValidHs256Signature(jws: DecodedJws, key: string | KeyObject): boolean {
  if (jws.header.alg !== 'HS256') return false;
  const expected = createHmac('sha256', key).update(jws.signingInput).digest();
  const presented = Buffer.from(jws.signature, 'base64url');
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}
