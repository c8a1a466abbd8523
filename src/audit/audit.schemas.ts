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

/** The most entries one verification request walks: a longer log is verified with `custos audit verify`. */
export const MAX_VERIFY_ENTRIES = 1_000_000;

export const VerifyBody = Type.Object(
  {
    checkpoints: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), {
        maxItems: 10_000,
        description:
          "Checkpoints as compact JWS, e.g. a witness's copies: each must verify with Custos's signing key, then the log must match it.",
      }),
    ),
    limit: Type.Integer({
      minimum: 1,
      maximum: MAX_VERIFY_ENTRIES,
      default: MAX_VERIFY_ENTRIES,
      description: 'Walk at most this many entries from the first; `complete` is false if the log goes on.',
    }),
  },
  { additionalProperties: false },
);

const Claims = Type.Object(
  { lastId: Type.Integer(), lastHash: Type.String(), count: Type.Integer(), at: Type.String() },
  { additionalProperties: false },
);

export const Verification = Type.Object(
  {
    intact: Type.Boolean({
      description: 'No broken link and every given checkpoint matched, over the entries walked.',
    }),
    complete: Type.Boolean({ description: 'The walk reached the end of the log.' }),
    checked: Type.Integer({ description: 'Entries walked.' }),
    lastId: Type.Union([Type.Integer(), Type.Null()]),
    lastHash: Type.String(),
    checkpointsMatched: Type.Integer(),
    broken: Type.Union([
      Type.Object(
        { id: Type.Integer(), problem: Type.Enum(['hash mismatch', 'prev_hash mismatch']) },
        { additionalProperties: false },
      ),
      Type.Null(),
    ]),
    mismatch: Type.Union([
      Type.Object(
        {
          checkpoint: Claims,
          problem: Type.Enum(['log ends before it', 'entry missing', 'hash differs', 'count differs']),
        },
        { additionalProperties: false },
      ),
      Type.Null(),
    ]),
    latestCheckpoint: Type.Union([AuditCheckpoint, Type.Null()], {
      description: 'The latest checkpoint Custos signed: entries after its `lastId` are not covered yet.',
    }),
  },
  { additionalProperties: false },
);

export const PublicKeys = Type.Object(
  {
    keys: Type.Array(
      Type.Object(
        {
          kid: Type.String({ description: 'RFC 7638 thumbprint; checkpoints name it in their header.' }),
          kty: Type.Optional(Type.String()),
          crv: Type.Optional(Type.String()),
          x: Type.Optional(Type.String()),
          alg: Type.Optional(Type.String()),
          use: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
      { description: 'A JWK Set (RFC 7517) of the key that verifies checkpoints.' },
    ),
    pem: Type.String({ description: 'The same key as an SPKI PEM.' }),
  },
  { additionalProperties: false },
);
