import Type, { type Static } from 'typebox';
import { ACCOUNT_ID_PATTERN, ACCOUNT_ID_RULE } from '../shared/account-id.js';

/** Custos decides: at most this many accountIds per bulk call; more is a 400. */
export const MAX_BULK_IDS = 200;

/**
 * Custos decides: the largest `startAt` of a page (docs/wire-contracts.md#user-api). The
 * contract states no bound, but a number must fit what both engines' LIMIT and JavaScript's
 * integers hold exactly; past the bound is a 400 naming startAt rather than a 500 or a page
 * that echoes a rounded number. No page a client can reach starts this far in.
 */
export const MAX_START_AT = 1_000_000;

/** Custos decides: at most this many users per search page. */
export const MAX_SEARCH_RESULTS = 1000;

const StartAt = Type.Integer({
  minimum: 0,
  maximum: MAX_START_AT,
  default: 0,
  description: `The index of the first result to return (0-${MAX_START_AT}).`,
});

const AccountId = Type.String({
  ...ACCOUNT_ID_RULE,
  description: 'An account ID (1–128 of A-Za-z0-9:-).',
});

const AvatarUrls = Type.Object(
  {
    '16x16': Type.String(),
    '24x24': Type.String(),
    '32x32': Type.String(),
    '48x48': Type.String(),
  },
  { additionalProperties: false },
);

/**
 * The user object of `GET /rest/api/3/user`, as the source platform documents it. Only
 * these properties can ever be serialized: the response schema is the last barrier
 * against leaking PD, so profile fields apps never get (job title, department, location,
 * organization) are not even in it. A field hidden from the caller is absent.
 */
export const User = Type.Object(
  {
    self: Type.String({ description: 'URL of this user resource.' }),
    accountId: Type.String(),
    accountType: Type.String({ description: 'atlassian (a person), app or customer.' }),
    emailAddress: Type.Optional(
      Type.String({ description: 'Present only when the user made it visible to the caller.' }),
    ),
    avatarUrls: Type.Optional(AvatarUrls),
    displayName: Type.String({
      description: 'Full name if visible, else the public name; "Former user" for closed accounts.',
    }),
    active: Type.Boolean(),
    timeZone: Type.Optional(Type.String()),
    locale: Type.Optional(Type.String()),
  },
  { $id: 'User', additionalProperties: false },
);
export type User = Static<typeof User>;

export const UserQuery = Type.Object(
  {
    accountId: AccountId,
    // Jira clients may ask to expand groups or application roles; Custos has neither, so it is accepted and ignored.
    expand: Type.Optional(
      Type.String({ maxLength: 200, description: 'Accepted for compatibility; ignored.' }),
    ),
  },
  { additionalProperties: false },
);
export const EmailQuery = Type.Object({ accountId: AccountId }, { additionalProperties: false });

/**
 * Bulk `accountId`: the documented form repeats the parameter, one id each. Clients also
 * send lists in one value: jira.js joins arrays with commas, and its bulkGetUsers sends one
 * value holding `a&accountId=b` percent-encoded. Account ids contain neither `,` nor `&`,
 * so expandAccountIds reads all three forms without ambiguity.
 */
const BulkAccountIds = Type.Array(
  Type.String({
    minLength: 1,
    maxLength: 30_000,
    description: 'An account ID; repeat the parameter per user.',
  }),
  { minItems: 1, maxItems: MAX_BULK_IDS },
);

export function expandAccountIds(values: string[]): string[] | undefined {
  const ids = values.flatMap((value) => value.split(/,|&accountId=/));
  const valid = new RegExp(ACCOUNT_ID_PATTERN);
  return ids.length <= MAX_BULK_IDS && ids.every((id) => valid.test(id)) ? ids : undefined;
}

export const BulkUserQuery = Type.Object(
  {
    accountId: BulkAccountIds,
    startAt: StartAt,
    maxResults: Type.Integer({ minimum: 1, maximum: MAX_BULK_IDS, default: 10 }),
  },
  { additionalProperties: false },
);
export type BulkUserQuery = Static<typeof BulkUserQuery>;

export const UserPage = Type.Object(
  {
    startAt: Type.Integer(),
    maxResults: Type.Integer(),
    total: Type.Integer(),
    isLast: Type.Boolean(),
    values: Type.Array(User),
  },
  { additionalProperties: false },
);
export type UserPage = Static<typeof UserPage>;

export const BulkEmailQuery = Type.Object({ accountId: BulkAccountIds }, { additionalProperties: false });

export const UnrestrictedEmail = Type.Object(
  { accountId: Type.String(), email: Type.String() },
  { additionalProperties: false },
);
export type UnrestrictedEmail = Static<typeof UnrestrictedEmail>;

/**
 * `GET /me`: the person who granted the token, under the documented field names (snake_case,
 * as the platform's profile endpoint). Fields hidden from the app are absent; with read:account
 * the person's own private fields are present.
 */
export const Me = Type.Object(
  {
    account_type: Type.String({ description: 'atlassian (a person), app or customer.' }),
    account_id: Type.String(),
    email: Type.Optional(Type.String()),
    name: Type.String({ description: 'Full name if visible, else the public name.' }),
    picture: Type.String({ description: 'Avatar URL; a default avatar when hidden or unset.' }),
    account_status: Type.Literal('active'),
    nickname: Type.Optional(Type.String()),
    zoneinfo: Type.Optional(Type.String()),
    locale: Type.Optional(Type.String()),
    extended_profile: Type.Object(
      {
        job_title: Type.Optional(Type.String()),
        organization: Type.Optional(Type.String()),
        department: Type.Optional(Type.String()),
        location: Type.Optional(Type.String()),
      },
      { additionalProperties: false },
    ),
  },
  { $id: 'Me', additionalProperties: false },
);
export type Me = Static<typeof Me>;
/** GET /rest/api/3/user/search: the documented parameters Custos serves. */
export const UserSearchQuery = Type.Object(
  {
    query: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 254,
        description:
          'An email address (matched exactly, without regard to case) or a public name (matched exactly, without regard to case). Never a prefix.',
      }),
    ),
    accountId: Type.Optional(AccountId),
    startAt: StartAt,
    maxResults: Type.Integer({ minimum: 1, maximum: MAX_SEARCH_RESULTS, default: 50 }),
  },
  { additionalProperties: false },
);
export type UserSearchQuery = Static<typeof UserSearchQuery>;
