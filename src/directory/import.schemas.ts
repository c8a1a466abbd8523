import Type, { type Static } from 'typebox';
import { APP_SCOPE_NAMES } from '../auth/scopes.js';
import { ACCOUNT_ID_RULE } from '../shared/account-id.js';
import { HTTP_URL_RULE } from '../validation.js';
import { ACCOUNT_TYPES, VISIBILITIES, VISIBILITY_FIELDS } from './account.model.js';

const Id = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$',
  errorMessage: 'must be 1–128 characters of A-Z a-z 0-9 . _ : -, starting with a letter or digit',
  description: 'An identifier.',
});
const Text = (maxLength = 255) => Type.String({ minLength: 1, maxLength });
const HttpUrl = Type.String(HTTP_URL_RULE);
/** Where people are sent back after granting the app access: matched exactly, so no fragment. */
const RedirectUri = Type.String({
  format: 'uri',
  pattern: '^[Hh][Tt][Tt][Pp][Ss]?://[^#]*$',
  maxLength: 2048,
  errorMessage: 'must be an absolute http(s) URL without a fragment',
});
/** HS256 and webhook signing keys need at least 256 bits (RFC 7518 §3.2). */
const Secret = Type.String({ minLength: 32, maxLength: 512 });
const AccountId = Type.String({
  ...ACCOUNT_ID_RULE,
  description: '1–128 of A-Za-z0-9:- ; never "unknown".',
});

export const ImportOrganization = Type.Object(
  {
    id: Id,
    name: Text(),
    domains: Type.Optional(
      Type.Array(Type.String({ format: 'hostname', maxLength: 253 }), { maxItems: 100, uniqueItems: true }),
    ),
  },
  { additionalProperties: false },
);

export const ImportAccount = Type.Object(
  {
    accountId: AccountId,
    accountType: Type.Enum(ACCOUNT_TYPES),
    organization: Type.Optional(Id),
    email: Type.Optional(Type.String({ format: 'email', maxLength: 254 })),
    name: Type.Optional(Text()),
    nickname: Type.Optional(Text()),
    avatarUrl: Type.Optional(HttpUrl),
    jobTitle: Type.Optional(Text()),
    department: Type.Optional(Text()),
    location: Type.Optional(Text()),
    timeZone: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$',
        errorMessage: 'must be an IANA time zone such as Europe/London',
        maxLength: 64,
      }),
    ),
    locale: Type.Optional(
      Type.String({
        pattern: '^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})*$',
        errorMessage: 'must be a language tag such as en-GB',
        maxLength: 35,
      }),
    ),
    visibility: Type.Optional(
      Type.Object(
        Object.fromEntries(VISIBILITY_FIELDS.map((f) => [f, Type.Optional(Type.Enum(VISIBILITIES))])),
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const ImportSite = Type.Object(
  {
    id: Id,
    url: HttpUrl,
    members: Type.Optional(Type.Array(AccountId, { maxItems: 1_000_000 })),
  },
  { additionalProperties: false },
);

export const ImportApp = Type.Object(
  {
    key: Id,
    name: Text(),
    vendor: Text(),
    privacyPolicyUrl: Type.Optional(HttpUrl),
    termsUrl: Type.Optional(HttpUrl),
    storesPersonalData: Type.Boolean(),
    webhook: Type.Optional(
      Type.Object({ url: HttpUrl, secret: Type.Optional(Secret) }, { additionalProperties: false }),
    ),
    oauth: Type.Optional(
      Type.Object(
        {
          clientId: Id,
          clientSecret: Secret,
          scopes: Type.Array(Type.Enum(APP_SCOPE_NAMES), {
            minItems: 1,
            uniqueItems: true,
          }),
          redirectUris: Type.Optional(
            Type.Array(RedirectUri, {
              maxItems: 20,
              uniqueItems: true,
              description:
                'Where people are sent back after granting the app access (OAuth 2.0 authorization code); matched exactly.',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const ImportInstallation = Type.Object(
  { app: Id, site: Id, clientKey: Id, sharedSecret: Secret },
  { additionalProperties: false },
);

export const ImportFile = Type.Object(
  {
    organizations: Type.Optional(Type.Array(ImportOrganization)),
    accounts: Type.Optional(Type.Array(ImportAccount)),
    sites: Type.Optional(Type.Array(ImportSite)),
    apps: Type.Optional(Type.Array(ImportApp)),
    installations: Type.Optional(Type.Array(ImportInstallation)),
  },
  { additionalProperties: false },
);
export type ImportFile = Static<typeof ImportFile>;
export type ImportAccount = Static<typeof ImportAccount>;
export type ImportApp = Static<typeof ImportApp>;

const Counts = Type.Object(
  { created: Type.Integer(), updated: Type.Integer(), unchanged: Type.Integer() },
  { additionalProperties: false },
);
const AccountCounts = Type.Object(
  {
    created: Type.Integer(),
    updated: Type.Integer(),
    unchanged: Type.Integer(),
    ownVisibilityKept: Type.Integer({
      description:
        'Stored accounts (among the updated and unchanged) where the file wanted another visibility for a field the person set themselves: their setting was kept.',
    }),
  },
  { additionalProperties: false },
);
export const ImportSummary = Type.Object(
  {
    organizations: Counts,
    accounts: AccountCounts,
    sites: Counts,
    apps: Counts,
    installations: Counts,
  },
  { additionalProperties: false },
);
export type ImportSummary = Static<typeof ImportSummary>;
export type ImportKind = keyof ImportSummary;
