import Type from 'typebox';
import { REGIMES } from './deadline.model.js';
import { DSR_STATES, DSR_TYPES } from './dsr.rules.js';

/** Form fields arrive as strings; an empty select means "any". */
const Optional = <T extends readonly string[]>(values: T) =>
  Type.Optional(Type.Union([Type.Enum([...values]), Type.Literal('')]));

export const QueueQuery = Type.Object(
  { type: Optional(DSR_TYPES), state: Optional(DSR_STATES), regime: Optional(REGIMES) },
  { additionalProperties: false },
);

export const PageIdParams = Type.Object(
  {
    id: Type.String({
      pattern: '^dsr_[0-9a-f]{32}$',
      errorMessage: 'must be a request id: dsr_ and 32 hexadecimal digits',
    }),
  },
  { additionalProperties: false },
);

export const ReasonForm = Type.Object(
  { reason: Type.String({ minLength: 1, maxLength: 2000 }) },
  { additionalProperties: false },
);

export const ExtendForm = Type.Object(
  {
    reason: Type.String({ minLength: 1, maxLength: 2000 }),
    amount: Type.Optional(
      Type.Union([
        Type.Literal(''),
        Type.String({ pattern: '^[0-9]{1,2}$', errorMessage: 'must be a whole number of months' }),
      ]),
    ),
  },
  { additionalProperties: false },
);

export const CompleteForm = Type.Object(
  {
    note: Type.Optional(Type.String({ maxLength: 2000 })),
    email: Type.Optional(
      Type.Union([
        Type.Literal(''),
        Type.String({ format: 'email', maxLength: 254, errorMessage: 'must be an email address' }),
      ]),
    ),
    name: Type.Optional(Type.String({ maxLength: 255 })),
    nickname: Type.Optional(Type.String({ maxLength: 255 })),
    jobTitle: Type.Optional(Type.String({ maxLength: 255 })),
    department: Type.Optional(Type.String({ maxLength: 255 })),
    location: Type.Optional(Type.String({ maxLength: 255 })),
  },
  { additionalProperties: false },
);

export const FileForm = Type.Object(
  { type: Type.Enum([...DSR_TYPES]), details: Type.Optional(Type.String({ maxLength: 4000 })) },
  { additionalProperties: false },
);

export const ExportQuery = Type.Object(
  { exp: Type.Integer({ minimum: 0 }), sig: Type.String({ minLength: 1, maxLength: 100 }) },
  { additionalProperties: false },
);
