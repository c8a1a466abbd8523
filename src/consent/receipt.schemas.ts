import Type from 'typebox';

export const ReceiptParams = Type.Object(
  {
    receiptId: Type.String({
      pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
      errorMessage: 'must be a receipt id (a lower-case UUID)',
    }),
  },
  { additionalProperties: false },
);

export const Receipt = Type.Object(
  {
    receiptId: Type.String({ description: 'The Kantara consentReceiptID, also the JWS payload’s jti.' }),
    purpose: Type.String({ description: 'The consent key, or the preference (do-not-sell-or-share).' }),
    method: Type.String({ description: 'The collection method: api, privacy-centre, objection, gpc, …' }),
    issuedAt: Type.String({ format: 'date-time' }),
    kid: Type.String({ description: 'The key id of the signing key in /.well-known/jwks.json.' }),
    jws: Type.String({
      description:
        'The receipt: a compact JWS (EdDSA, typ custos-consent-receipt+jwt) whose payload holds the Kantara Consent Receipt v1.1 fields.',
    }),
  },
  { additionalProperties: false },
);

export const ReceiptSearchBody = Type.Object(
  {
    email: Type.String({
      format: 'email',
      maxLength: 254,
      errorMessage: 'must be an email address',
      description: 'The email the consent was recorded under.',
    }),
  },
  { additionalProperties: false },
);

export const ReceiptList = Type.Object(
  { receipts: Type.Array(Receipt, { description: 'Newest first, at most 500.' }) },
  { additionalProperties: false },
);

export const Jwks = Type.Object(
  {
    keys: Type.Array(
      Type.Object(
        {
          kty: Type.String(),
          crv: Type.String(),
          x: Type.String(),
          kid: Type.String(),
          alg: Type.String(),
          use: Type.String(),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const GpcSupport = Type.Object(
  { gpc: Type.Boolean(), lastUpdate: Type.String() },
  { additionalProperties: false },
);

/** The privacy centre's "do not sell or share" form: the person turns the preference on or off. */
export const DoNotSellForm = Type.Object(
  {
    choice: Type.Union([Type.Literal('on'), Type.Literal('off')], { errorMessage: 'must be on or off' }),
  },
  { additionalProperties: false },
);

/** After a change the receipts page is shown again with a line saying what happened. */
export const ReceiptsPageQuery = Type.Object({ done: Type.Optional(Type.String({ maxLength: 32 })) });
