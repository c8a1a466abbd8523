import Type, { type Static } from 'typebox';
import { ACCOUNT_ID_RULE } from '../shared/account-id.js';
import { CATEGORY_PATTERN } from './notification.model.js';

/** At most this many recipients per request. */
export const MAX_RECIPIENTS = 100;

export const NotificationRequest = Type.Object(
  {
    accountIds: Type.Array(Type.String({ ...ACCOUNT_ID_RULE, description: 'An account ID.' }), {
      minItems: 1,
      maxItems: MAX_RECIPIENTS,
      description: `The people to notify (1–${MAX_RECIPIENTS} account IDs; repeats count once).`,
    }),
    subject: Type.String({
      minLength: 1,
      maxLength: 200,
      pattern: '^[^\\r\\n]*$',
      errorMessage: 'must be 1–200 characters on one line',
      description: 'The mail subject; Custos puts the app name before it.',
    }),
    text: Type.String({
      minLength: 1,
      maxLength: 10_000,
      description: 'The plain-text body. Always sent; the mail template surrounds it.',
    }),
    html: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 50_000,
        description:
          'An HTML body. Rebuilt from an allow list (paragraphs, emphasis, lists, https links; no attributes, images or styles) and placed inside Custos’s template.',
      }),
    ),
    category: Type.String({
      pattern: CATEGORY_PATTERN,
      errorMessage: 'must be 1–64 characters of a-z 0-9 . _ -, starting with a letter or digit',
      description:
        'What kind of notification this is (e.g. "mentions", "security-alerts"): people can turn each category of an app off.',
    }),
    idempotencyKey: Type.String({
      minLength: 1,
      maxLength: 128,
      pattern: '^[\\x21-\\x7e]+$',
      errorMessage: 'must be 1–128 printable ASCII characters without spaces',
      description: 'Repeating a request with the same key returns the first one’s id and sends nothing more.',
    }),
  },
  { additionalProperties: false },
);
export type NotificationRequest = Static<typeof NotificationRequest>;

export const NotificationAccepted = Type.Object(
  { id: Type.String({ description: 'The notification’s id, for GET /app/notifications/{id}.' }) },
  { additionalProperties: false },
);

export const NotificationParams = Type.Object(
  {
    id: Type.String({
      minLength: 1,
      maxLength: 64,
      pattern: '^[A-Za-z0-9-]+$',
      errorMessage: 'must be a notification id: letters, digits and -',
    }),
  },
  { additionalProperties: false },
);

export const NotificationStatus = Type.Object(
  {
    id: Type.String(),
    category: Type.String(),
    createdAt: Type.String(),
    recipients: Type.Array(
      Type.Object(
        {
          accountId: Type.String(),
          state: Type.Enum(['pending', 'sent', 'suppressed', 'failed'], {
            description:
              'pending: not decided yet; sent: the mail server accepted it; suppressed: not sent (the person turned it off, or the account is not one the app may reach); failed: the mail server refused it after every retry.',
          }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type NotificationStatus = Static<typeof NotificationStatus>;

/** RFC 8058: the body a mail client posts for a one-click unsubscribe. */
export const OneClickBody = Type.Object(
  {
    'List-Unsubscribe': Type.Literal('One-Click', {
      errorMessage: 'must be One-Click (RFC 8058)',
    }),
  },
  { additionalProperties: true },
);

export const UnsubscribeQuery = Type.Object(
  { t: Type.String({ minLength: 1, maxLength: 2000, description: 'The signed token from the mail.' }) },
  { additionalProperties: false },
);

export const Unsubscribed = Type.Object({ unsubscribed: Type.Boolean() }, { additionalProperties: false });
