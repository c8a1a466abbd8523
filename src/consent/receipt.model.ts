/** The JWS `typ` of a receipt, so a signature made for anything else is never read as one. */
export const RECEIPT_TYP = 'custos-consent-receipt+jwt';
/**
 * The protected header every receipt is signed with (RFC 7515 §4.1): EdDSA, the key's id and
 * the receipt's typ, base64url of its JSON in this member order.
 */
export function receiptHeader(kid: string): string {
  // Every receipt until a key rotation has the same header: made once per key.
  if (kid !== lastHeader.kid) {
    const header = Buffer.from(JSON.stringify({ alg: 'EdDSA', kid, typ: RECEIPT_TYP }), 'utf8');
    lastHeader = { kid, header: header.toString('base64url') };
  }
  return lastHeader.header;
}

let lastHeader: { kid: string | undefined; header: string } = { kid: undefined, header: '' };

export const KANTARA_VERSION = 'KI-CR-v1.1.0';
export const DO_NOT_SELL_OR_SHARE = 'do-not-sell-or-share';

/** The operator, as receipts name the data controller (CUSTOS_CONTROLLER_*). */
export interface Controller {
  name: string;
  contact: string | undefined;
  policyUrl: string | undefined;
  /** The issuer: Custos's public address. */
  issuer: string;
}

/** Whose consent: an account, or the SHA-256 of a normalised email (never the address itself). */
export type Principal = { accountId: string } | { emailSha256: string };

/** What a receipt states, mapped from a consent event or a preference change. */
export interface ReceiptFacts {
  receiptId: string;
  /** When the person made the choice (the request's receipt time), ISO 8601. */
  at: string;
  /** ISO 3166-1 alpha-2, or UNKNOWN. */
  jurisdiction: string;
  /** The channel the choice came through: 'api', 'privacy-centre', 'objection', 'gpc', … */
  method: string;
  principal: Principal;
  /** The consent key, or the preference name. */
  purpose: string;
  status: 'given' | 'withdrawn' | 'objected' | 'opted-out';
  notice: { version: string; textSha256: string } | null;
  formUrl: string | null;
  /** Preferences of the person beside this consent (GPC). */
  preferences?: { doNotSellOrShare: boolean };
}

export function principalId(principal: Principal): string {
  return 'accountId' in principal ? principal.accountId : `sha256:${principal.emailSha256}`;
}

/**
 * The fields of a Kantara Consent Receipt v1.1, with the JWT claims (iss, sub, iat, jti) that
 * let any JOSE library check it as a JWT, plus what Custos proves beyond Kantara: the status,
 * the notice version and the SHA-256 of the exact text shown (GDPR art. 7(1)). See
 * docs/legal-rules.md#kantara-consent-receipt-v11.
 */
export function receiptClaims(facts: ReceiptFacts, controller: Controller) {
  const seconds = Math.floor(Date.parse(facts.at) / 1000);
  const optOut = facts.purpose === DO_NOT_SELL_OR_SHARE;
  return {
    iss: controller.issuer,
    sub: principalId(facts.principal),
    iat: seconds,
    jti: facts.receiptId,
    version: KANTARA_VERSION,
    jurisdiction: facts.jurisdiction,
    consentTimestamp: seconds,
    collectionMethod: facts.method,
    consentReceiptID: facts.receiptId,
    language: 'en',
    piiPrincipalId: principalId(facts.principal),
    piiControllers: [
      {
        piiController: controller.name,
        ...(controller.contact ? { contact: controller.contact } : {}),
        ...(controller.policyUrl ? { piiControllerUrl: controller.policyUrl } : {}),
      },
    ],
    ...(controller.policyUrl ? { policyUrl: controller.policyUrl } : {}),
    services: [
      {
        service: facts.purpose,
        purposes: [
          {
            purpose: facts.purpose,
            purposeCategory: [optOut ? 'sale or sharing of personal information' : 'marketing'],
            consentType: optOut ? 'OPT-OUT' : 'EXPLICIT',
            piiCategory: [optOut ? 'personal information' : 'email address'],
            primaryPurpose: true,
            termination: optOut
              ? 'until the person changes the preference'
              : 'until withdrawn; withdrawing is one request',
            thirdPartyDisclosure: false,
          },
        ],
      },
    ],
    sensitive: false,
    spiCat: [] as string[],
    status: facts.status,
    notice: facts.notice,
    formUrl: facts.formUrl,
    ...(facts.preferences ? { preferences: facts.preferences } : {}),
  };
}

export type ReceiptClaims = ReturnType<typeof receiptClaims>;
