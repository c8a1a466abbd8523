import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { receiptHeader } from './receipt.model.js';

/**
 * How a signed receipt is stored (docs/legal-rules.md#kantara-consent-receipt-v11: the person keeps
 * the JWS, and what Custos returns is byte for byte what was signed). A compact JWS is three
 * base64url parts; stored whole it repeats per receipt the same header, the same field names
 * and the same fixed texts. Format 1 stores instead:
 *
 * - the protected header only when it is not the one `receiptHeader(kid)` rebuilds (null);
 * - the payload's JSON, raw deflate with a preset dictionary of a receipt's constant parts;
 * - the signature as its 64 raw bytes.
 *
 * Reading rebuilds the JWS string exactly. A JWS this cannot rebuild exactly (a base64url
 * part that does not round-trip, a signature of another length) is stored whole, as every
 * receipt was before format 1, with `format` null.
 */

/** The columns a receipt is stored in; `jws` is set exactly when `format` is null. */
export interface StoredReceiptForm {
  jws: string | null;
  format: number | null;
  header: string | null;
  payload: Buffer | null;
  signature: Buffer | null;
}

/** The receipt as read back: the JWS and its payload's JSON text. */
export interface ReadReceipt {
  jws: string;
  claims: string;
}

/**
 * Format 1's dictionary: frozen. Receipts stored with it can only be read with these exact
 * bytes (test/consent/receipt-storage.test.ts pins their SHA-256), so a better dictionary is a
 * new format beside this one, never an edit. Built from `receiptClaims` (receipt.model.ts)
 * with empty values: a few values receipts often hold, then an opt-out receipt, then the most
 * common one (an email's consent with its notice) last, nearest to what is compressed.
 */
const DICTIONARY_V1 = [
  '"status":"objected","collectionMethod":"objection","collectionMethod":"gpc",',
  '"collectionMethod":"privacy-centre","jurisdiction":"UNKNOWN","service":"direct-marketing",',
  '"status":"withdrawn","status":"given","collectionMethod":"api","iss":"https://',
  '{"iss":"https://","sub":"","iat":0,"jti":"","version":"KI-CR-v1.1.0","jurisdiction":"",',
  '"consentTimestamp":0,"collectionMethod":"","consentReceiptID":"","language":"en","piiPrincipalId":"",',
  '"piiControllers":[{"piiController":"","contact":"","piiControllerUrl":"https://"}],"policyUrl":"https://",',
  '"services":[{"service":"do-not-sell-or-share","purposes":[{"purpose":"do-not-sell-or-share",',
  '"purposeCategory":["sale or sharing of personal information"],"consentType":"OPT-OUT",',
  '"piiCategory":["personal information"],"primaryPurpose":true,',
  '"termination":"until the person changes the preference","thirdPartyDisclosure":false}]}],',
  '"sensitive":false,"spiCat":[],"status":"opted-out","notice":null,"formUrl":null,',
  '"preferences":{"doNotSellOrShare":true}}',
  '{"iss":"https://","sub":"sha256:","iat":0,"jti":"","version":"KI-CR-v1.1.0","jurisdiction":"",',
  '"consentTimestamp":0,"collectionMethod":"","consentReceiptID":"","language":"en","piiPrincipalId":"sha256:",',
  '"piiControllers":[{"piiController":"","contact":"","piiControllerUrl":"https://"}],"policyUrl":"https://",',
  '"services":[{"service":"generalMarketingOptIn","purposes":[{"purpose":"generalMarketingOptIn",',
  '"purposeCategory":["marketing"],"consentType":"EXPLICIT","piiCategory":["email address"],',
  '"primaryPurpose":true,"termination":"until withdrawn; withdrawing is one request",',
  '"thirdPartyDisclosure":false}]}],"sensitive":false,"spiCat":[],"status":"given",',
  '"notice":{"version":"","textSha256":""},"formUrl":"https://"}',
].join('');

/** The dictionary's text, for the test that pins it. */
export const RECEIPT_DICTIONARY_V1: string = DICTIONARY_V1;

/** The format new receipts are stored in. */
export const RECEIPT_FORMAT = 1;

/**
 * Format 1's deflate settings. A receipt's payload is about 1 KB and the dictionary under
 * 2 KB, so a 4 KB window holds both, and a smaller window is cheaper to set up on each call
 * (the applier compresses up to 500 receipts inside its transaction). Measured on typical
 * receipts, setting up each call costs more than compressing: levels 1 to 9 took the same
 * time within noise, and level 6 stores 10 bytes less per receipt than level 1.
 */
const V1 = { dictionary: Buffer.from(DICTIONARY_V1, 'utf8'), windowBits: 12 } as const;
const V1_LEVEL = 6;

const SIGNATURE_BYTES = 64;

function whole(jws: string): StoredReceiptForm {
  return { jws, format: null, header: null, payload: null, signature: null };
}

/** The bytes of a base64url part, or undefined when they would not encode back to it exactly. */
function exactBytes(part: string): Buffer | undefined {
  const bytes = Buffer.from(part, 'base64url');
  return bytes.toString('base64url') === part ? bytes : undefined;
}

/** What to store for a receipt signed with key `kid`. */
export function encodeReceipt(kid: string, jws: string): StoredReceiptForm {
  const parts = jws.split('.');
  if (parts.length !== 3) return whole(jws);
  const [header, payload, signature] = parts as [string, string, string];
  const claims = exactBytes(payload);
  const signed = exactBytes(signature);
  if (!claims || signed?.length !== SIGNATURE_BYTES) return whole(jws);
  return encodeSigned(kid, { header, claims, signature: signed });
}

/** A compact JWS as its signer made it: the header's base64url, the claims and the signature as bytes. */
export interface SignedParts {
  header: string;
  claims: Buffer;
  signature: Buffer;
}

const V1_DEFLATE = { ...V1, level: V1_LEVEL } as const;

/**
 * What to store for a receipt from the parts its signer holds: the same form `encodeReceipt`
 * gives for their JWS, without decoding the JWS it has just encoded (the applier stores a
 * receipt per consent event, inside its transaction).
 */
export function encodeSigned(kid: string, parts: SignedParts): StoredReceiptForm {
  if (parts.signature.length !== SIGNATURE_BYTES) {
    return whole(
      `${parts.header}.${parts.claims.toString('base64url')}.${parts.signature.toString('base64url')}`,
    );
  }
  return {
    jws: null,
    format: RECEIPT_FORMAT,
    header: parts.header === receiptHeader(kid) ? null : parts.header,
    payload: deflateRawSync(parts.claims, V1_DEFLATE),
    signature: parts.signature,
  };
}

/** The receipt as it was signed, from its stored row. */
export function decodeReceipt(row: StoredReceiptForm & { kid: string }): ReadReceipt {
  if (row.format === null) {
    if (row.jws === null) throw new Error('consent receipt: neither a JWS nor a stored format');
    return { jws: row.jws, claims: Buffer.from(row.jws.split('.')[1] ?? '', 'base64url').toString('utf8') };
  }
  if (row.format !== 1 || row.payload === null || row.signature === null)
    throw new Error(`consent receipt: unknown stored format ${row.format}`);
  const claims = inflateRawSync(row.payload, V1);
  const header = row.header ?? receiptHeader(row.kid);
  return {
    jws: `${header}.${claims.toString('base64url')}.${Buffer.from(row.signature).toString('base64url')}`,
    claims: claims.toString('utf8'),
  };
}
