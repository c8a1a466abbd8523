import { createHmac } from 'node:crypto';
import type { Redis } from 'ioredis';
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  type RateLimiterRes,
} from 'rate-limiter-flexible';
import { AppError } from '../errors/app-error.js';
import { InvalidIpError, parseIp } from '../geo/geoip.js';

/** What a credential key names; the same string is a different key for each kind. */
export type CredentialKind = 'oauth-client' | 'api-client' | 'connect-issuer';

export interface CredentialLimits {
  /** Failed sign-ins per credential key (client id, email, issuer) in a window. */
  perKey: number;
  /** Failed sign-ins per caller address in a window, whatever the keys tried. */
  perAddress: number;
  windowSeconds: number;
}

/**
 * The address a caller is counted by. An IPv6 host usually holds a whole /64, so it is
 * counted by its /64; counting single IPv6 addresses would not limit it at all.
 */
export function addressBucket(address: string): string {
  let parsed: ReturnType<typeof parseIp>;
  try {
    parsed = parseIp(address);
  } catch (error) {
    if (error instanceof InvalidIpError) return address;
    throw error;
  }
  if (!('parts' in parsed)) return parsed.toString();
  return `${parsed.parts
    .slice(0, 4)
    .map((part) => part.toString(16))
    .join(':')}::/64`;
}

/** A fixed-window counter in Redis (with memory as its insurance) or in memory alone. */
export function limiter(
  store: { redis: Redis | undefined; prefix: string },
  name: string,
  points: number,
  duration: number,
): RateLimiterAbstract {
  const keyPrefix = `${store.prefix}auth-failures:${name}`;
  // Counts go to memory while Redis is unreachable: an outage neither stops sign-ins nor
  // lifts the limit, it only stops processes from sharing their counts for that time.
  const memory = new RateLimiterMemory({ keyPrefix, points, duration });
  if (!store.redis) return memory;
  return new RateLimiterRedis({
    storeClient: store.redis,
    keyPrefix,
    points,
    duration,
    rejectIfRedisNotReady: true,
    insuranceLimiter: memory,
  });
}

const MAX_REMEMBERED_ISSUERS = 10_000;

/** How long a key must wait, in ms: 0 while it has failures left. */
function waitMs(res: RateLimiterRes | null, limit: number): number {
  return res !== null && res.consumedPoints >= limit ? Math.max(res.msBeforeNext, 1) : 0;
}

/**
 * Limits credential guessing. Only failures count, in a fixed window from the first one:
 * per credential key (so a distributed guesser cannot try one client id from many
 * addresses) and per caller address (so one caller cannot spray many keys). Callers check
 * before verifying, so a limited caller costs no database read and no scrypt, and record
 * a failure after one.
 *
 * A success does not reset the count. API clients and apps sign in all the time; a reset
 * on success would hand a guesser a fresh budget after every legitimate sign-in. The price
 * is that a key someone is guessing at is refused, with its rightful owner, until the
 * window ends; other keys are never held up.
 *
 * Keys and addresses are stored as an HMAC under a key derived from the master key: the
 * shared store holds neither emails nor addresses, and processes with the same master key
 * (hence the same database) share their counts. Keys are compared case-insensitively, so
 * case variants of one id draw on one budget.
 */
export class CredentialLimiter {
  private readonly byKey: RateLimiterAbstract;
  private readonly byAddress: RateLimiterAbstract;
  private readonly issuerIds = new Map<string, string>();
  /** Counts live in this process alone (no Redis): none is running after a window without failures. */
  private readonly countsHereOnly: boolean;
  private lastFailureMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly limits: CredentialLimits,
    store: { redis: Redis | undefined; prefix: string },
    private readonly hmacKey: Buffer,
  ) {
    this.byKey = limiter(store, 'key', limits.perKey, limits.windowSeconds);
    this.byAddress = limiter(store, 'address', limits.perAddress, limits.windowSeconds);
    this.countsHereOnly = store.redis === undefined;
  }

  /** Refuses (429 with Retry-After) a caller whose key or address has no failures left. */
  async check(kind: CredentialKind, key: string, address: string): Promise<void> {
    // Each count ends a window after its first failure, so a window after the last failure
    // every count here has ended: nothing to hash or read (the common case, on every call).
    if (this.countsHereOnly && Date.now() - this.lastFailureMs > this.limits.windowSeconds * 1000) return;
    const [byKey, byAddress] = await Promise.all([
      this.byKey.get(this.keyId(kind, key)),
      this.byAddress.get(this.addressId(address)),
    ]);
    const wait = Math.max(waitMs(byKey, this.limits.perKey), waitMs(byAddress, this.limits.perAddress));
    if (wait > 0) {
      throw new AppError('RATE_LIMITED', 'Too many failed sign-ins: retry after the Retry-After delay', {
        headers: { 'Retry-After': String(Math.ceil(wait / 1000)) },
      });
    }
  }

  async recordFailure(kind: CredentialKind, key: string, address: string): Promise<void> {
    this.lastFailureMs = Date.now();
    await Promise.all([
      this.byKey.penalty(this.keyId(kind, key)),
      this.byAddress.penalty(this.addressId(address)),
    ]);
    // Again once counted: a count's window starts when it is written, a moment after the above.
    this.lastFailureMs = Date.now();
  }

  /**
   * A Connect JWT's issuer is checked on every app call, and the same few recur, so its
   * HMAC is remembered (bounded). Issuers name installations, not people: emails and
   * addresses are never kept.
   */
  private keyId(kind: CredentialKind, key: string): string {
    if (kind !== 'connect-issuer') return this.hmac(`${kind}\n${key.toLowerCase()}`);
    let id = this.issuerIds.get(key);
    if (id === undefined) {
      id = this.hmac(`${kind}\n${key.toLowerCase()}`);
      if (this.issuerIds.size >= MAX_REMEMBERED_ISSUERS) this.issuerIds.clear();
      this.issuerIds.set(key, id);
    }
    return id;
  }

  private addressId(address: string): string {
    return this.hmac(`address\n${addressBucket(address)}`);
  }

  private hmac(value: string): string {
    return createHmac('sha256', this.hmacKey).update(value, 'utf8').digest('base64url');
  }
}
