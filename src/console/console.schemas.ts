import Type from 'typebox';
import { MAX_NOTICE_TEXT } from '../consent/notice.service.js';
import { ACCOUNT_ID_RULE } from '../shared/account-id.js';
import { PAGE_CURSOR_RULE } from '../validation.js';

/** Form fields are text: blank fields a person left empty arrive as '' and mean "not given". */
const Cursor = Type.Optional(Type.String({ ...PAGE_CURSOR_RULE }));
const Optional = (maxLength: number) => Type.Optional(Type.String({ maxLength }));

/** The messages a page shows after an action redirected to it (post/redirect/get). */
export const DONE_MESSAGES = {
  approved: 'The request is approved: the app may use the Email API from its next call.',
  rejected: 'The request is rejected; the vendor is told with your reason.',
  revoked: "The app's Email API access is revoked from its next call.",
  redelivered: 'The message is back in the queue and will be delivered shortly.',
  enabled: 'The webhook endpoint is enabled again.',
  closed: 'The account is closed; every app holding its data is being told.',
  'token-revoked': 'The token is revoked.',
  'notice-added': 'The notice version is added.',
} as const;
export type DoneMessage = keyof typeof DONE_MESSAGES;

export const DoneQuery = Type.Object(
  { done: Type.Optional(Type.Enum(Object.keys(DONE_MESSAGES) as DoneMessage[])) },
  { additionalProperties: false },
);

export const ReviewQuery = Type.Object(
  {
    done: DoneQuery.properties.done,
    after: Cursor,
    before: Cursor,
  },
  { additionalProperties: false },
);

export const RequestParams = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }) },
  { additionalProperties: false },
);

export const AppParams = Type.Object(
  { appKey: Type.String({ minLength: 1, maxLength: 128 }) },
  { additionalProperties: false },
);

export const AccountParams = Type.Object(
  { accountId: Type.String(ACCOUNT_ID_RULE) },
  { additionalProperties: false },
);

export const MessageParams = Type.Object(
  {
    appKey: Type.String({ minLength: 1, maxLength: 128 }),
    id: Type.String({ minLength: 1, maxLength: 128 }),
  },
  { additionalProperties: false },
);

export const TokenParams = Type.Object(
  { tokenId: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);

/** A decision's reason: required, shown to the vendor and kept on record. */
export const ReasonForm = Type.Object(
  {
    reason: Type.String({
      minLength: 1,
      maxLength: 2000,
      pattern: '\\S',
      errorMessage: 'must not be blank: the vendor is told why',
    }),
  },
  { additionalProperties: false },
);

export const AuditQuery = Type.Object(
  {
    app: Optional(128),
    account: Optional(128),
    action: Optional(64),
    from: Optional(40),
    to: Optional(40),
    before: Cursor,
  },
  { additionalProperties: false },
);

export const AccountLookupQuery = Type.Object(
  { accountId: Type.Optional(Type.String({ maxLength: 128 })) },
  { additionalProperties: false },
);

export const CloseForm = Type.Object(
  { confirm: Type.String({ maxLength: 128 }) },
  { additionalProperties: false },
);

export const AppQuery = Type.Object(
  { done: DoneQuery.properties.done, after: Optional(128) },
  { additionalProperties: false },
);

export const TokenForm = Type.Object(
  {
    email: Type.String({ minLength: 1, maxLength: 320 }),
    label: Optional(200),
    scopes: Type.Union(
      [Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })],
      {
        errorMessage: 'choose at least one scope',
      },
    ),
  },
  { additionalProperties: false },
);

export const NoticeForm = Type.Object(
  {
    key: Type.String({ minLength: 1, maxLength: 100 }),
    version: Type.String({ minLength: 1, maxLength: 64 }),
    text: Type.String({ minLength: 1, maxLength: MAX_NOTICE_TEXT }),
    effectiveAt: Optional(40),
  },
  { additionalProperties: false },
);
