import Type, { type Static } from 'typebox';
import { Nullable } from '../shared/common.schemas.js';

const Status = Type.Union([
  Type.Literal('pending'),
  Type.Literal('running'),
  Type.Literal('succeeded'),
  Type.Literal('failed'),
]);

export const JobsQuery = Type.Object(
  {
    status: Type.Optional(Status),
    name: Type.Optional(
      Type.String({ minLength: 1, maxLength: 100, description: 'e.g. consent.inbox-cleanup' }),
    ),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  },
  { additionalProperties: false },
);
export type JobsQuery = Static<typeof JobsQuery>;

export const Job = Type.Object(
  {
    id: Type.Integer(),
    name: Type.String(),
    key: Type.String({
      description: 'The due time of a scheduled run; the idempotency key of an enqueued job.',
    }),
    status: Status,
    attempts: Type.Integer({ description: 'Runs started, the one under way included.' }),
    runAt: Type.String({ description: 'When it is, or was, due (the next retry while pending).' }),
    leaseUntil: Nullable(Type.String()),
    leaseHolder: Nullable(Type.String({ description: 'host:pid:random of the worker' })),
    lastError: Nullable(Type.String()),
    result: Type.Union([
      Type.Record(Type.String(), Type.Union([Type.Number(), Type.String(), Type.Boolean()])),
      Type.Null(),
    ]),
    createdAt: Type.String(),
    updatedAt: Type.String(),
    startedAt: Nullable(Type.String()),
    finishedAt: Nullable(Type.String()),
  },
  { additionalProperties: false },
);

export const JobList = Type.Object({ values: Type.Array(Job) }, { additionalProperties: false });
