import Type from 'typebox';

export const ErrorBody = Type.Object(
  {
    errorType: Type.String({ description: 'A code from the error catalogue, e.g. VALIDATION_FAILED.' }),
    errorMessage: Type.String(),
    field: Type.Optional(Type.String({ description: 'The request field that is wrong, as a dotted path.' })),
  },
  { $id: 'Error', additionalProperties: false },
);

/** Response schemas for the error statuses a route can answer with. */
export function errorResponses(...statuses: number[]): Record<number, typeof ErrorBody> {
  return Object.fromEntries(statuses.map((s) => [s, ErrorBody]));
}
