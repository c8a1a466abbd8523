import Type from 'typebox';
import { Nullable } from '../shared/common.schemas.js';
import { VISIBILITY_FIELDS, type VisibilityField } from './account.model.js';

const Visibility = Type.Union([
  Type.Literal('public'),
  Type.Literal('organization'),
  Type.Literal('private'),
]);

/** The admin view of an account: everything the visibility rule shows an admin, plus the settings. */
export const AdminAccount = Type.Object(
  {
    accountId: Type.String(),
    accountType: Type.String(),
    active: Type.Boolean(),
    profile: Type.Object(
      {
        email: Type.Optional(Type.String()),
        name: Type.Optional(Type.String()),
        nickname: Type.Optional(Type.String()),
        avatarUrl: Type.Optional(Type.String()),
        jobTitle: Type.Optional(Type.String()),
        department: Type.Optional(Type.String()),
        organizationId: Type.Optional(Type.String()),
        location: Type.Optional(Type.String()),
        timeZone: Type.Optional(Type.String()),
        locale: Type.Optional(Type.String()),
      },
      { additionalProperties: false },
    ),
    visibility: Type.Object(
      Object.fromEntries(VISIBILITY_FIELDS.map((f) => [f, Visibility])) as Record<
        VisibilityField,
        typeof Visibility
      >,
      { additionalProperties: false },
    ),
    pdUpdatedAt: Type.String({ description: 'When the profile PD last changed.' }),
    closedAt: Nullable(Type.String()),
  },
  { additionalProperties: false },
);

export const ClosedAccount = Type.Object(
  { accountId: Type.String(), closedAt: Type.String(), alreadyClosed: Type.Boolean() },
  { additionalProperties: false },
);

/** An app's settings, without any secret. */
export const AdminApp = Type.Object(
  {
    key: Type.String(),
    name: Type.String(),
    vendor: Type.String(),
    privacyPolicyUrl: Nullable(Type.String()),
    termsUrl: Nullable(Type.String()),
    storesPersonalData: Type.Boolean(),
    emailApiApproved: Type.Boolean({ description: 'On the Email API allow list (the access programme).' }),
    installations: Type.Array(
      Type.Object(
        {
          clientKey: Type.String(),
          siteId: Type.String(),
          installedAt: Type.String(),
          uninstalledAt: Nullable(Type.String()),
          scopes: Type.Array(Type.String(), {
            description: 'Includes read:email-address:custos while the app is approved for the Email API.',
          }),
        },
        { additionalProperties: false },
      ),
    ),
    webhookUrl: Nullable(Type.String()),
    webhookSecretShownAt: Nullable(Type.String()),
  },
  { additionalProperties: false },
);

export const RotatedSecret = Type.Object(
  {
    secret: Type.String({ description: 'The new `whsec_…` signing secret: shown once; store it now.' }),
    previousValidUntil: Type.String({ description: 'Until when the previous secret also signs.' }),
  },
  { additionalProperties: false },
);

export const EnabledWebhook = Type.Object(
  { key: Type.String(), wasDisabled: Type.Boolean() },
  { additionalProperties: false },
);
