import Type, { type Static } from 'typebox';
import { HTTP_URL_RULE } from '../validation.js';
import { DISPLAYED_TEXT_MARGIN, MAX_NOTICE_TEXT } from './notice.service.js';

const Email = Type.String({ format: 'email', maxLength: 254, description: 'Matched case-insensitively.' });

export const ConsentItem = Type.Object(
  {
    key: Type.String({
      minLength: 1,
      maxLength: 100,
      description: 'A registered consent key, e.g. generalMarketingOptIn.',
    }),
    granted: Type.Boolean(),
    displayedText: Type.Optional(
      Type.String({
        // Any registered notice's text, with room for the white space around it that is trimmed.
        maxLength: MAX_NOTICE_TEXT + DISPLAYED_TEXT_MARGIN,
        description: 'The exact text the user was shown. Required when granting; compared after trimming.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const ConsentBody = Type.Object(
  {
    consents: Type.Optional(
      Type.Array(ConsentItem, { maxItems: 50, description: 'Consents to add or change.' }),
    ),
    email: Email,
    formUrl: Type.Optional(
      Type.String({ ...HTTP_URL_RULE, description: 'Absolute http(s) URL of the form.' }),
    ),
    locale: Type.String({
      pattern: '^([A-Za-z]{2}|UNKNOWN)$',
      errorMessage: 'must be an ISO 3166-1 alpha-2 country code or UNKNOWN',
      description: "The user's ISO 3166-1 alpha-2 country code, or UNKNOWN (assumed to be a GDPR locale).",
    }),
    providerId: Type.Optional(
      Type.String({ minLength: 1, maxLength: 255, description: 'Site-specific user id.' }),
    ),
  },
  { additionalProperties: false },
);
export type ConsentBody = Static<typeof ConsentBody>;

export const ConsentConfigBody = Type.Object(
  {
    email: Type.Optional(Email),
    userIp: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'IPv4 (dotted quad) or IPv6.' }),
    ),
  },
  { additionalProperties: false },
);
export type ConsentConfigBody = Static<typeof ConsentConfigBody>;

export const ConsentConfiguration = Type.Object(
  {
    locale: Type.String(),
    localeRequiresMarketingCommunicationOptIn: Type.Boolean(),
    hasUserMadeChoiceOnMarketingCommunicationOptIn: Type.Boolean(),
    usersChoiceOnMarketingCommunicationOptIn: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type ConsentConfiguration = Static<typeof ConsentConfiguration>;

/** One consent as stored in the inbox: what was received plus what validation resolved. */
export interface ResolvedConsent {
  key: string;
  granted: boolean;
  displayedText: string | null;
  textSha256: string | null;
  noticeVersion: string | null;
}
