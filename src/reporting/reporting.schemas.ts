import Type from 'typebox';
import { ACCOUNT_ID_RULE } from '../shared/account-id.js';

/**
 * The documented body (docs/wire-contracts.md#reporting-request); the handler reads it itself to
 * answer in the contract's words.
 */
export const ReportBody = Type.Object(
  {
    accounts: Type.Array(
      Type.Object(
        {
          accountId: Type.String(ACCOUNT_ID_RULE),
          updatedAt: Type.String({
            format: 'date-time',
            description: 'RFC 3339: when the app retrieved this PD (the oldest, if several pieces)',
          }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 90 },
    ),
  },
  { additionalProperties: false },
);

export const ReportAnswer = Type.Object(
  {
    accounts: Type.Array(
      Type.Object(
        {
          accountId: Type.String(),
          status: Type.Union([Type.Literal('closed'), Type.Literal('updated')]),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

/** The contract's error body, exactly. */
export const ReportError = Type.Object(
  { errorType: Type.String(), errorMessage: Type.String() },
  { additionalProperties: false },
);

export const ErasureBody = Type.Object(
  {
    accounts: Type.Array(
      Type.Object({ accountId: Type.String(ACCOUNT_ID_RULE) }, { additionalProperties: false }),
      { minItems: 1, maxItems: 90 },
    ),
  },
  { additionalProperties: false },
);
