import { compactVerify, createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet } from 'jose';
import { RECEIPT_TYP } from './receipt.model.js';

export class ReceiptVerificationError extends Error {}

/** What a verified receipt states, for a person reading the verifier's answer. */
export interface VerifiedReceipt {
  kid: string;
  receiptId: string;
  purpose: string;
  status: string;
  collectionMethod: string;
  consentTimestamp: number;
  piiPrincipalId: string;
}

/** Parses a JWK Set (or a single JWK) as /.well-known/jwks.json serves it. */
export function parseJwks(text: string, source: string): JSONWebKeySet {
  let parsed: { keys?: unknown };
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ReceiptVerificationError(`${source}: not a JWK Set (JSON)`);
  }
  const keys = Array.isArray(parsed.keys) ? parsed.keys : [parsed];
  return { keys } as JSONWebKeySet;
}

/**
 * Verifies a receipt's signature with one of the published keys, the way any JOSE library
 * does: EdDSA only, the key chosen by the header's kid, and the receipt's typ.
 */
export async function verifyReceipt(jws: string, jwks: JSONWebKeySet): Promise<VerifiedReceipt> {
  let kid: string | undefined;
  try {
    kid = decodeProtectedHeader(jws).kid;
  } catch {
    throw new ReceiptVerificationError('not a compact JWS');
  }
  if (!jwks.keys.some((k) => k.kid === kid))
    throw new ReceiptVerificationError(
      `signed by key ${kid ?? '(none)'}, which is not among the published keys`,
    );
  let verified: Awaited<ReturnType<typeof compactVerify>>;
  try {
    verified = await compactVerify(jws, createLocalJWKSet(jwks), { algorithms: ['EdDSA'] });
  } catch {
    throw new ReceiptVerificationError(
      `the signature does not verify with key ${kid}: the receipt was altered`,
    );
  }
  if (verified.protectedHeader.typ !== RECEIPT_TYP)
    throw new ReceiptVerificationError(
      `signed, but not a consent receipt (typ ${verified.protectedHeader.typ})`,
    );
  let claims: Record<string, unknown>;
  try {
    claims = JSON.parse(new TextDecoder().decode(verified.payload));
  } catch {
    throw new ReceiptVerificationError('the signed payload is not JSON');
  }
  const services = claims.services as { service?: string }[] | undefined;
  return {
    kid: kid as string,
    receiptId: String(claims.consentReceiptID),
    purpose: String(services?.[0]?.service ?? ''),
    status: String(claims.status ?? ''),
    collectionMethod: String(claims.collectionMethod ?? ''),
    consentTimestamp: Number(claims.consentTimestamp),
    piiPrincipalId: String(claims.piiPrincipalId ?? ''),
  };
}
