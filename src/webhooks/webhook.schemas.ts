import Type from 'typebox';
import { Nullable } from '../shared/common.schemas.js';
import { PAGE_CURSOR_RULE } from '../validation.js';
import { WEBHOOK_STATUSES } from './webhook-outbox.service.js';

const Status = Type.Enum(WEBHOOK_STATUSES);

export const MessagesQuery = Type.Object(
  {
    app: Type.Optional(
      Type.String({ minLength: 1, maxLength: 128, description: 'Only messages to this app.' }),
    ),
    status: Type.Optional(Status),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
    cursor: Type.Optional(
      Type.String({ ...PAGE_CURSOR_RULE, description: 'nextCursor of the previous page.' }),
    ),
  },
  { additionalProperties: false },
);

/** A message's delivery state; never its payload. */
export const MessagePage = Type.Object(
  {
    values: Type.Array(
      Type.Object(
        {
          id: Type.String({ description: 'The `webhook-id` the receiver saw.' }),
          appKey: Type.String(),
          eventType: Type.String(),
          status: Status,
          attempts: Type.Integer(),
          createdAt: Type.String(),
          nextAttemptAt: Type.String(),
          lastAttemptAt: Nullable(Type.String()),
          lastStatus: Type.Union([
            Type.Integer({ description: 'HTTP status of the last attempt.' }),
            Type.Null(),
          ]),
          lastError: Nullable(Type.String()),
          deliveredAt: Nullable(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
    nextCursor: Nullable(Type.String()),
  },
  { additionalProperties: false },
);

export const MessageIdParams = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);

export const RedeliverAppBody = Type.Object(
  { appKey: Type.String({ minLength: 1, maxLength: 128, description: 'Every dead message of this app.' }) },
  { additionalProperties: false },
);

export const Requeued = Type.Object(
  { requeued: Type.Integer({ description: 'Messages put back in the queue, due now.' }) },
  { additionalProperties: false },
);
