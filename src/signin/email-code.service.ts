import { createHmac, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit.service.js';
import type { Database } from '../db/dialect.js';
import type { Mailer } from '../mail/mailer.js';
import { normalizeEmail } from '../shared/email.js';
import type { SignInAccounts } from './accounts.port.js';
import * as repo from './signin.repository.js';
import type { SignInLimiter } from './signin-limiter.js';

export const CODE_DIGITS = 8;
export const CODE_TTL_MS = 10 * 60_000;
/** Wrong entries a code survives; the fifth wrong one ends it. */
export const CODE_MAX_ATTEMPTS = 5;

export type CodeCheck =
  | { ok: true; accountId: string }
  /** Wrong code; the code still works for `attemptsLeft` more tries. */
  | { ok: false; reason: 'wrong'; attemptsLeft: number }
  /** Unknown, used, expired or out of attempts: a new code is needed. */
  | { ok: false; reason: 'spent' };

/**
 * Sign-in by a one-time code sent by mail (OWASP ASVS V2.7): 8 random digits, single use,
 * for 10 minutes, 5 attempts, kept as an HMAC bound to its challenge under a key derived from
 * the master key (so a copy of the database cannot be searched for the codes).
 *
 * No enumeration: asking for a code answers the same whether or not the email belongs to an
 * open account. A challenge row is written either way (one no code will ever match when there
 * is no account), so the attempts and the refusals that follow behave the same too; only the
 * mail differs, and it is sent after the answer, so it does not show in the answer's timing.
 */
export class EmailCodeSignIn {
  private readonly sending = new Set<Promise<void>>();

  constructor(
    private readonly database: Database,
    private readonly audit: AuditLog,
    private readonly accounts: SignInAccounts,
    private readonly mailer: Mailer,
    private readonly limiter: SignInLimiter,
    private readonly codeKey: Buffer,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Offered only with a mail server to send the codes through. */
  get enabled(): boolean {
    return this.mailer.enabled;
  }

  /**
   * Starts a challenge for `email`, asked from `address` (rate limited per both); returns its
   * id, which the code is entered against. The code goes by mail only if the email is an open
   * account's.
   */
  async request(email: string, address: string): Promise<string> {
    const normalized = normalizeEmail(email);
    await this.limiter.consumeCodeRequest(normalized, address);
    const accountId = await this.accounts.findOpenAccountIdByEmail(normalized);
    const id = randomUUID();
    const code = randomInt(0, 10 ** CODE_DIGITS)
      .toString()
      .padStart(CODE_DIGITS, '0');
    const now = this.now();
    await repo.insertCode(this.database.db, {
      id,
      account_id: accountId ?? null,
      code_hash: this.hash(id, code),
      attempts: 0,
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + CODE_TTL_MS).toISOString(),
      used_at: null,
    });
    if (accountId !== undefined) this.deliver(normalized, code);
    return id;
  }

  /** Checks a code entered from `address` against challenge `challengeId`; a right one is used up. */
  async verify(challengeId: string, code: string, address: string): Promise<CodeCheck> {
    await this.limiter.checkWrongCodes(address);
    const entered = code.replace(/[\s-]/g, '');
    const result = await this.check(challengeId, entered);
    if (!result.ok) await this.limiter.recordWrongCode(address);
    return result;
  }

  private async check(challengeId: string, entered: string): Promise<CodeCheck> {
    const spent: CodeCheck = { ok: false, reason: 'spent' };
    const row = await repo.findCode(this.database.db, challengeId);
    const nowIso = this.now().toISOString();
    if (!row || row.used_at !== null || row.expires_at <= nowIso || row.attempts >= CODE_MAX_ATTEMPTS)
      return spent;
    const expected = Buffer.from(row.code_hash, 'hex');
    const given = Buffer.from(this.hash(row.id, entered), 'hex');
    const accountId = timingSafeEqual(expected, given) ? row.account_id : null;
    if (accountId === null) {
      // Wrong, or no account behind the challenge: one attempt fewer either way. The updates
      // below are conditional on what was read, so two concurrent tries cannot both count as one.
      const attemptsLeft = CODE_MAX_ATTEMPTS - row.attempts - 1;
      return this.database.writeTransaction(async (trx) => {
        if (!(await repo.countAttempt(trx, row.id, row.attempts))) return spent;
        if (attemptsLeft > 0) return { ok: false, reason: 'wrong', attemptsLeft };
        if (row.account_id !== null)
          await this.audit.appendWithin(trx, [
            {
              actor: { type: 'system', id: 'sign-in' },
              action: 'signin.code-locked',
              accountId: row.account_id,
              details: { challengeId: row.id },
            },
          ]);
        return spent;
      });
    }
    // Read before the transaction: on SQLite a read outside it would wait for it to end.
    if (!(await this.accounts.getAccount(accountId)).active) return spent;
    return this.database.writeTransaction(async (trx) => {
      if (!(await repo.useCode(trx, row.id, row.attempts, nowIso))) return spent;
      await this.audit.appendWithin(trx, [
        {
          actor: { type: 'account', id: accountId },
          action: 'signin.email-code',
          accountId,
          details: { challengeId: row.id },
        },
      ]);
      return { ok: true, accountId } as const;
    });
  }

  /** Resolves once every code mail under way has been handed to the mail server (or failed). */
  async drain(): Promise<void> {
    await Promise.all([...this.sending]);
  }

  private deliver(email: string, code: string): void {
    const spaced = `${code.slice(0, 4)} ${code.slice(4)}`;
    const sent = this.mailer
      .send({
        to: email,
        subject: `Your Custos sign-in code: ${spaced}`,
        text: [
          `Your sign-in code is ${code}`,
          '',
          'Enter it on the sign-in page. It works once, for 10 minutes.',
          'If you did not ask to sign in, ignore this mail: nobody can sign in without the code.',
        ].join('\n'),
      })
      .catch((error: Error & { code?: unknown }) => {
        // The error may quote the address: its type and code only.
        this.log.warn({ errorType: error.name, errorCode: error.code }, 'a sign-in code mail was not sent');
      })
      .finally(() => this.sending.delete(sent));
    this.sending.add(sent);
  }

  private hash(challengeId: string, code: string): string {
    return createHmac('sha256', this.codeKey).update(`${challengeId}\n${code}`, 'utf8').digest('hex');
  }
}
