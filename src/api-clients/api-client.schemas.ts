import Type from 'typebox';
import { API_CLIENT_SCOPE_NAMES } from '../auth/scopes.js';
import { Nullable } from '../shared/common.schemas.js';

const Scopes = Type.Array(Type.String(), { description: "The client's scopes, which all its tokens share." });

export const TokenCreateBody = Type.Object(
  {
    email: Type.String({
      minLength: 3,
      maxLength: 254,
      pattern: '^[^\\s@]+@[^\\s@]+$',
      errorMessage: 'must be an address like name@example.com',
      description: "The API client's email: the HTTP Basic username. A new email creates a client.",
    }),
    scopes: Type.Array(Type.Enum(API_CLIENT_SCOPE_NAMES), {
      minItems: 1,
      maxItems: API_CLIENT_SCOPE_NAMES.length,
      uniqueItems: true,
      description: 'Granted to the client (added to what it holds already).',
    }),
    label: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'A note to recognise the token by.' }),
    ),
  },
  { additionalProperties: false },
);

export const CreatedToken = Type.Object(
  {
    token: Type.String({ description: 'The secret: shown once, in this answer only; store it now.' }),
    tokenId: Type.String(),
    clientId: Type.String(),
    createdClient: Type.Boolean(),
    scopes: Scopes,
  },
  { additionalProperties: false },
);

export const TokenList = Type.Object(
  {
    values: Type.Array(
      Type.Object(
        {
          id: Type.String(),
          clientId: Type.String(),
          email: Type.String(),
          label: Nullable(Type.String()),
          scopes: Scopes,
          createdAt: Type.String(),
          lastUsedAt: Nullable(Type.String()),
          revokedAt: Nullable(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const ClientList = Type.Object(
  {
    values: Type.Array(
      Type.Object(
        {
          id: Type.String(),
          email: Type.String(),
          scopes: Scopes,
          activeTokens: Type.Integer(),
          createdAt: Type.String(),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const TokenIdParams = Type.Object(
  { tokenId: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);

export const RevokedToken = Type.Object(
  { tokenId: Type.String(), revokedAt: Type.String() },
  { additionalProperties: false },
);
