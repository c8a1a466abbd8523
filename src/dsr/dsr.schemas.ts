import Type from 'typebox';
import { ACCOUNT_ID_RULE } from '../shared/account-id.js';
import { Nullable } from '../shared/common.schemas.js';
import { REGIMES } from './deadline.model.js';
import { DSR_STATES, DSR_TYPES } from './dsr.rules.js';

const Text = (maxLength: number, description: string) =>
  Type.String({ minLength: 1, maxLength, description });
const NullableInt = Type.Union([Type.Integer(), Type.Null()]);

export const DsrIdParams = Type.Object(
  {
    id: Type.String({
      pattern: '^dsr_[0-9a-f]{32}$',
      errorMessage: 'must be a request id: dsr_ and 32 hexadecimal digits',
      description: 'The request id (dsr_…)',
    }),
  },
  { additionalProperties: false },
);

export const FileBody = Type.Object(
  {
    accountId: Type.String(ACCOUNT_ID_RULE),
    type: Type.Enum([...DSR_TYPES]),
    details: Type.Optional(
      Text(4000, 'What the person asks for, in their words (required for rectification)'),
    ),
  },
  { additionalProperties: false },
);

export const ListQuery = Type.Object(
  {
    type: Type.Optional(Type.Enum([...DSR_TYPES])),
    state: Type.Optional(Type.Enum([...DSR_STATES])),
    regime: Type.Optional(Type.Enum([...REGIMES])),
    account: Type.Optional(Type.String(ACCOUNT_ID_RULE)),
    open: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const ExtendBody = Type.Object(
  {
    amount: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 45,
        description: 'GDPR: months (1 or 2); CCPA: days (45). Default: the most allowed',
      }),
    ),
    reason: Text(2000, 'Why more time is needed: the person is told'),
  },
  { additionalProperties: false },
);

export const ReasonBody = Type.Object(
  { reason: Text(2000, 'Why: kept on the timeline (and told to the person for a denial)') },
  { additionalProperties: false },
);

const ProfileField = Type.String({ maxLength: 255 });
export const CompleteBody = Type.Object(
  {
    note: Type.Optional(Text(2000, 'What was done')),
    changes: Type.Optional(
      Type.Object(
        {
          email: Type.Optional(Type.String({ format: 'email', maxLength: 254 })),
          name: Type.Optional(ProfileField),
          nickname: Type.Optional(ProfileField),
          jobTitle: Type.Optional(ProfileField),
          department: Type.Optional(ProfileField),
          location: Type.Optional(ProfileField),
          timeZone: Type.Optional(ProfileField),
          locale: Type.Optional(ProfileField),
        },
        { additionalProperties: false, description: 'Rectification: the corrected profile fields' },
      ),
    ),
  },
  { additionalProperties: false },
);

export const DsrRequest = Type.Object({
  id: Type.String(),
  accountId: Type.String(),
  type: Type.Enum([...DSR_TYPES]),
  regime: Type.Enum([...REGIMES]),
  state: Type.Enum([...DSR_STATES]),
  owner: Type.String(),
  filedVia: Type.String(),
  filedBy: Type.String(),
  needsVerification: Type.Boolean(),
  receivedAt: Type.String(),
  verifiedAt: Nullable(Type.String()),
  dueOn: Nullable(
    Type.String({ description: 'Due by the end of this UTC day; null until identity is verified (GDPR)' }),
  ),
  originalDueOn: Nullable(Type.String()),
  acknowledgeBy: Nullable(Type.String()),
  daysLeft: NullableInt,
  shortOfTime: Type.Boolean(),
  extension: Type.Integer(),
  extensionUnit: Type.String(),
  extensionReason: Nullable(Type.String()),
  extendedAt: Nullable(Type.String()),
  stateSince: Type.String(),
  stateLimitAt: Nullable(Type.String()),
  appsDeadlineAt: Nullable(Type.String()),
  graceUntil: Nullable(Type.String()),
  outcomeReason: Nullable(Type.String()),
  attentionReason: Nullable(Type.String()),
  lastError: Nullable(Type.String()),
  closedAt: Nullable(Type.String()),
  cancellable: Type.Boolean(),
});

export const DsrRequestList = Type.Object({ values: Type.Array(DsrRequest) });

export const DsrRequestDetail = Type.Object({
  ...DsrRequest.properties,
  details: Nullable(Type.String()),
  exportAvailable: Type.Boolean(),
  timeline: Type.Array(
    Type.Object({
      at: Type.String(),
      actor: Type.String(),
      action: Type.String(),
      fromState: Nullable(Type.String()),
      toState: Nullable(Type.String()),
      note: Nullable(Type.String()),
    }),
  ),
  apps: Type.Array(
    Type.Object({
      appKey: Type.String(),
      event: Type.String(),
      toldAt: Nullable(Type.String()),
      deliveredAt: Nullable(Type.String()),
      delivery: Nullable(Type.String()),
      answeredAt: Nullable(Type.String()),
      confirmedAt: Nullable(Type.String()),
    }),
  ),
});

export const PartBody = Type.Object(
  {
    data: Type.Record(Type.String(), Type.Unknown(), {
      description: 'What the app holds of the person, as JSON: put in the export as given',
    }),
  },
  { additionalProperties: false },
);

export const PartAnswer = Type.Object({ answeredAt: Type.String() });
export const ConfirmAnswer = Type.Object({ confirmedAt: Type.String() });
