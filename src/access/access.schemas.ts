import Type, { type Static } from 'typebox';
import { Nullable } from '../shared/common.schemas.js';
import { HTTP_URL_RULE, PAGE_CURSOR_RULE } from '../validation.js';

const HttpUrl = Type.String(HTTP_URL_RULE);
const Text = (maxLength: number, description: string) =>
  Type.String({ minLength: 1, maxLength, pattern: '\\S', errorMessage: 'must not be blank', description });

export const USE_CASE_ID_PATTERN = '^[a-z0-9][a-z0-9-]{0,63}$';

/** Every field a vendor must give to request the Email API (docs/wire-contracts.md#request-fields). */
export const AccessRequestBody = Type.Object(
  {
    companyName: Text(200, 'The company that makes the app.'),
    appName: Text(200, 'The app, as the customer knows it.'),
    appKey: Type.String({
      minLength: 1,
      maxLength: 128,
      description: "The app's key; must be the caller's.",
    }),
    listingUrl: Type.Optional(HttpUrl),
    privacyPolicyUrl: HttpUrl,
    termsUrl: HttpUrl,
    storesPersonalData: Type.Boolean({ description: 'Whether the app collects and stores personal data.' }),
    useCases: Type.Array(
      Type.String({
        pattern: USE_CASE_ID_PATTERN,
        errorMessage: 'must be a use-case id from the catalogue (a-z, 0-9 and -)',
      }),
      {
        minItems: 1,
        maxItems: 20,
        uniqueItems: true,
        description: 'Use-case ids from the catalogue (GET /admin/email-access/use-cases, docs).',
      },
    ),
    description: Text(5000, 'The functionality that needs email addresses.'),
    privacyPolicyExcerpt: Text(5000, 'The privacy-policy language on how email addresses are processed.'),
  },
  { additionalProperties: false },
);
export type AccessRequestBody = Static<typeof AccessRequestBody>;

export const ACCESS_STATUSES = [
  'submitted',
  'auto-approved',
  'auto-rejected',
  'in-review',
  'approved',
  'rejected',
  'revoked',
] as const;
export type AccessStatus = (typeof ACCESS_STATUSES)[number];

export const SubmittedRequest = Type.Object(
  { id: Type.String(), status: Type.Enum(ACCESS_STATUSES) },
  { additionalProperties: false },
);

/** A request as the operator reviews it. Vendor-supplied text only: no user's PD. */
export const AccessRequest = Type.Object(
  {
    id: Type.String(),
    appKey: Type.String(),
    status: Type.Enum(ACCESS_STATUSES),
    companyName: Type.String(),
    appName: Type.String(),
    listingUrl: Nullable(Type.String()),
    privacyPolicyUrl: Type.String(),
    termsUrl: Type.String(),
    storesPersonalData: Type.Boolean(),
    useCases: Type.Array(Type.String()),
    description: Type.String(),
    privacyPolicyExcerpt: Type.String(),
    reportingCheck: Type.Enum(['met', 'not-met', 'pending', 'not-required']),
    reason: Nullable(Type.String()),
    submittedBy: Type.String(),
    submittedAt: Type.String(),
    decidedBy: Nullable(Type.String()),
    decidedAt: Nullable(Type.String()),
    revokedBy: Nullable(Type.String()),
    revokedAt: Nullable(Type.String()),
  },
  { additionalProperties: false },
);
export type AccessRequest = Static<typeof AccessRequest>;

export const AccessRequestPage = Type.Object(
  { values: Type.Array(AccessRequest), nextCursor: Nullable(Type.String()) },
  { additionalProperties: false },
);

export const AccessListQuery = Type.Object(
  {
    status: Type.Optional(Type.Enum(ACCESS_STATUSES)),
    app: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
    cursor: Type.Optional(Type.String(PAGE_CURSOR_RULE)),
  },
  { additionalProperties: false },
);

export const RequestIdParams = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);

export const ReasonBody = Type.Object(
  { reason: Text(2000, 'Why: shown to the vendor in the webhook and kept on record.') },
  { additionalProperties: false },
);

export const UseCase = Type.Object(
  {
    id: Type.String(),
    category: Type.String(),
    functionality: Type.String(),
    decision: Type.Enum(['auto', 'review', 'never']),
  },
  { additionalProperties: false },
);
export type UseCase = Static<typeof UseCase>;

/** A use case an operator adds to the catalogue (`POST /admin/email-access/use-cases`, `custos access use-case add`). */
export const UseCaseBody = Type.Object(
  {
    id: Type.String({
      pattern: USE_CASE_ID_PATTERN,
      errorMessage: 'must be lower-case letters, digits and dashes (at most 64)',
    }),
    category: Text(200, 'e.g. "transactional email".'),
    functionality: Text(1000, 'What the app does with the address.'),
    decision: Type.Enum(['auto', 'review', 'never'], {
      description: 'auto: approved at once; review: a reviewer decides; never: rejected at once.',
    }),
  },
  { additionalProperties: false },
);
