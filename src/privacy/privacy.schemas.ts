import Type, { type Static } from 'typebox';
import { VISIBILITIES, VISIBILITY_FIELDS, type VisibilityField } from '../directory/account.model.js';

const VisibilityChoice = Type.Union(
  VISIBILITIES.map((v) => Type.Literal(v)),
  { errorMessage: 'must be public, organization or private' },
);

/** The profile form: one choice per field; a field left out keeps its setting. */
export const VisibilityForm = Type.Object(
  Object.fromEntries(VISIBILITY_FIELDS.map((f) => [f, Type.Optional(VisibilityChoice)])) as Record<
    VisibilityField,
    Type.TOptional<typeof VisibilityChoice>
  >,
  { additionalProperties: false },
);
export type VisibilityForm = Static<typeof VisibilityForm>;

/** One click: give (with the notice version the page showed) or withdraw one consent. */
export const ConsentForm = Type.Object(
  {
    key: Type.String({ minLength: 1, maxLength: 100 }),
    choice: Type.Union([Type.Literal('give'), Type.Literal('withdraw')], {
      errorMessage: 'must be give or withdraw',
    }),
    version: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  { additionalProperties: false },
);
export type ConsentForm = Static<typeof ConsentForm>;

export const SessionParams = Type.Object({ sessionId: Type.String({ format: 'uuid' }) });

/** After a change the page is shown again with a line saying what happened (post/redirect/get). */
export const DoneQuery = Type.Object({ done: Type.Optional(Type.String({ maxLength: 32 })) });
