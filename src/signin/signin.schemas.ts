import Type from 'typebox';
import { ACCOUNT_ID_RULE } from '../shared/account-id.js';

const Next = Type.String({ maxLength: 2048 });

export const NextQuery = Type.Object({ next: Type.Optional(Next) });

export const CodeRequestBody = Type.Object(
  {
    email: Type.String({
      minLength: 3,
      maxLength: 254,
      pattern: '^\\s*[^\\s@]+@[^\\s@]+\\s*$',
      errorMessage: 'must be an email address',
    }),
    next: Type.Optional(Next),
  },
  { additionalProperties: false },
);

export const CodeVerifyBody = Type.Object(
  {
    challenge: Type.String({ format: 'uuid', errorMessage: 'must be the sign-in challenge of the form' }),
    code: Type.String({ minLength: 1, maxLength: 32 }),
    next: Type.Optional(Next),
  },
  { additionalProperties: false },
);

export const LinkParams = Type.Object({ token: Type.String({ minLength: 1, maxLength: 128 }) });

export const OidcCallbackQuery = Type.Object({
  state: Type.Optional(Type.String({ maxLength: 4096 })),
  code: Type.Optional(Type.String({ maxLength: 4096 })),
  error: Type.Optional(Type.String({ maxLength: 4096 })),
});

export const LoginLinkBody = Type.Object(
  {
    accountId: Type.String(ACCOUNT_ID_RULE),
    next: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 2048,
        description: 'A path on this site to land on, e.g. /console',
      }),
    ),
  },
  { additionalProperties: false },
);

export const IssuedLoginLink = Type.Object(
  {
    linkId: Type.String(),
    url: Type.String({ description: 'The one-time link: shown once, valid once for 15 minutes' }),
    next: Type.String(),
    expiresAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
