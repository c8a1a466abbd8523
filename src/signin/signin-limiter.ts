import { createHmac } from 'node:crypto';
import type { Redis } from 'ioredis';
import { type RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { addressBucket, limiter } from '../auth/credential-limiter.js';
import { AppError } from '../errors/app-error.js';

/** Codes one email may be sent, and one address may ask for, per window. */
export const CODES_PER_EMAIL = 5;
export const CODES_PER_ADDRESS = 20;
/** Wrong codes one address may enter per window, whatever the codes (each code allows 5). */
export const WRONG_CODES_PER_ADDRESS = 30;
export const SIGN_IN_WINDOW_S = 15 * 60;

function refusal(res: RateLimiterRes): AppError {
  const seconds = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
  return new AppError(
    'RATE_LIMITED',
    `Too many sign-in attempts: try again in ${Math.ceil(seconds / 60)} minute(s)`,
    {
      headers: { 'Retry-After': String(seconds) },
    },
  );
}

/**
 * Limits on emailed codes: how many are sent per email and asked for per caller address, and
 * how many wrong codes an address may enter. The same limits apply whether or not the email
 * belongs to an account, so reaching one tells nothing either. Keys are HMACs (no email or
 * address in Redis), in Redis when configured so that every process counts together.
 */
export class SignInLimiter {
  private readonly perEmail: RateLimiterAbstract;
  private readonly perAddress: RateLimiterAbstract;
  private readonly wrongPerAddress: RateLimiterAbstract;

  constructor(
    store: { redis: Redis | undefined; prefix: string },
    private readonly hmacKey: Buffer,
  ) {
    this.perEmail = limiter(store, 'signin-code-email', CODES_PER_EMAIL, SIGN_IN_WINDOW_S);
    this.perAddress = limiter(store, 'signin-code-address', CODES_PER_ADDRESS, SIGN_IN_WINDOW_S);
    this.wrongPerAddress = limiter(store, 'signin-wrong-code', WRONG_CODES_PER_ADDRESS, SIGN_IN_WINDOW_S);
  }

  /** Counts a code asked for `email` (normalized) from `address`; 429 past either limit. */
  async consumeCodeRequest(email: string, address: string): Promise<void> {
    try {
      await this.perAddress.consume(this.id('address', addressBucket(address)));
      await this.perEmail.consume(this.id('email', email));
    } catch (error) {
      if (error instanceof RateLimiterRes) throw refusal(error);
      throw error;
    }
  }

  /** 429 when the address has entered too many wrong codes. */
  async checkWrongCodes(address: string): Promise<void> {
    const res = await this.wrongPerAddress.get(this.id('address', addressBucket(address)));
    if (res !== null && res.consumedPoints >= WRONG_CODES_PER_ADDRESS) throw refusal(res);
  }

  async recordWrongCode(address: string): Promise<void> {
    await this.wrongPerAddress.penalty(this.id('address', addressBucket(address)));
  }

  private id(kind: string, value: string): string {
    return createHmac('sha256', this.hmacKey).update(`${kind}\n${value}`, 'utf8').digest('base64url');
  }
}
