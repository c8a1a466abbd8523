import Type from 'typebox';
import { MAX_NOTICE_TEXT, NOTICE_KEY_PATTERN, NOTICE_VERSION_PATTERN } from './notice.service.js';

export const NoticeBody = Type.Object(
  {
    key: Type.String({
      pattern: NOTICE_KEY_PATTERN,
      errorMessage: 'must be letters, digits, _ . - (1–100, starting with a letter)',
      description: 'The consent key, e.g. generalMarketingOptIn.',
    }),
    version: Type.String({
      pattern: NOTICE_VERSION_PATTERN,
      errorMessage: 'must be letters, digits, _ . : - (1–64)',
      description: 'A version label, e.g. 2026-11.',
    }),
    text: Type.String({
      minLength: 1,
      maxLength: MAX_NOTICE_TEXT,
      pattern: '\\S',
      errorMessage: 'must not be blank',
      description: 'The exact text shown to people (stored trimmed); a grant must carry it.',
    }),
    effectiveAt: Type.Optional(
      Type.String({ format: 'date-time', description: 'When this version takes effect; default now.' }),
    ),
  },
  { additionalProperties: false },
);

export const Notice = Type.Object(
  {
    key: Type.String(),
    version: Type.String(),
    text: Type.String(),
    sha256: Type.String({ description: 'SHA-256 (hex) of the text, as consent events record it.' }),
    effectiveAt: Type.String(),
    createdAt: Type.String(),
  },
  { additionalProperties: false },
);

export const NoticeList = Type.Object({ values: Type.Array(Notice) }, { additionalProperties: false });
