import Type, { type Static } from 'typebox';
import { Nullable } from '../shared/common.schemas.js';
import { PAGE_CURSOR_RULE } from '../validation.js';

const IsoTime = Type.String({ format: 'date-time', description: 'ISO 8601, e.g. 2026-11-24T00:00:00.000Z' });

export const AuditQuery = Type.Object(
  {
    app: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    account: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    action: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    from: Type.Optional(IsoTime),
    to: Type.Optional(IsoTime),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
    cursor: Type.Optional(
      Type.String({ ...PAGE_CURSOR_RULE, description: 'nextCursor of the previous page.' }),
    ),
  },
  { additionalProperties: false },
);
export type AuditQuery = Static<typeof AuditQuery>;

/** An entry as stored: ids and flags only (no PD), with its place in the hash chain. */
export const AuditEvent = Type.Object(
  {
    id: Type.Integer(),
    at: Type.String(),
    actorType: Type.String(),
    actorId: Type.String(),
    action: Type.String(),
    appKey: Nullable(Type.String()),
    installationId: Nullable(Type.String()),
    accountId: Nullable(Type.String()),
    details: Type.String({ description: 'Canonical JSON, exactly as hashed.' }),
    prevHash: Type.String(),
    hash: Type.String(),
  },
  { additionalProperties: false },
);

export const AuditPage = Type.Object(
  { values: Type.Array(AuditEvent), nextCursor: Nullable(Type.String()) },
  { additionalProperties: false },
);

export const CheckpointQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
    cursor: Type.Optional(
      Type.String({ ...PAGE_CURSOR_RULE, description: 'nextCursor of the previous page.' }),
    ),
  },
  { additionalProperties: false },
);

/** A signed statement of where the log ended; `jws` is the evidence, the rest repeats it for reading. */
export const AuditCheckpoint = Type.Object(
  {
    id: Type.String(),
    kid: Type.String({ description: 'RFC 7638 thumbprint of the public key that verifies `jws`.' }),
    lastId: Type.Integer({ description: 'The last entry when it was signed; 0: the log was empty.' }),
    lastHash: Type.String(),
    count: Type.Integer({ description: 'How many entries, ids up to lastId, led up to it.' }),
    at: Type.String(),
    jws: Type.String({
      description: 'Compact JWS (EdDSA, typ custos-audit-checkpoint) of {lastId, lastHash, count, at}.',
    }),
    urlDeliveredAt: Nullable(Type.String({ description: 'Delivered to the witness URL; null: not (yet).' })),
    fileWrittenAt: Nullable(Type.String({ description: 'Appended to the witness file; null: not (yet).' })),
    witnessAttempts: Type.Integer({ description: 'Failed witness deliveries so far.' }),
    witnessError: Nullable(Type.String({ description: 'The latest witness failure.' })),
  },
  { additionalProperties: false },
);

export const CheckpointPage = Type.Object(
  { values: Type.Array(AuditCheckpoint), nextCursor: Nullable(Type.String()) },
  { additionalProperties: false },
);
