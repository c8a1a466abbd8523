import Type from 'typebox';
import { ACCOUNT_ID_RULE } from './account-id.js';

/** A value or null, for API responses. */
export const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const AccountIdParams = Type.Object(
  { accountId: Type.String(ACCOUNT_ID_RULE) },
  { additionalProperties: false },
);

export const AppKeyParams = Type.Object(
  { key: Type.String({ minLength: 1, maxLength: 128 }) },
  { additionalProperties: false },
);

export const ClientKeyParams = Type.Object(
  { clientKey: Type.String({ minLength: 1, maxLength: 255 }) },
  { additionalProperties: false },
);
