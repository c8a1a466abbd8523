import type { AuditActor, AuditLog } from '../audit/audit.service.js';
import { sha256Hex } from '../crypto/digest.js';
import { type Database, isUniqueViolation } from '../db/dialect.js';
import type { ConsentNoticeTable } from '../db/schema.js';
import { AppError } from '../errors/app-error.js';
import { DATE_TIME_WORDS, parseRfc3339 } from '../validation.js';
import * as repo from './notice.repository.js';

/**
 * The registry of consent notices: versioned legal texts per consent key. A key is known
 * when it has at least one notice. Notices are never edited or deleted — they are the
 * proof of what users agreed to — so a cached copy can only be missing new versions;
 * a miss re-reads the table before answering "unknown".
 */
export class NoticeRegistry {
  private byKey = new Map<string, Map<string, string>>();

  constructor(
    private readonly database: Database,
    private readonly audit: AuditLog,
  ) {}

  async reload(): Promise<void> {
    const next = new Map<string, Map<string, string>>();
    for (const notice of await repo.listNotices(this.database.db)) {
      const versions = next.get(notice.key) ?? new Map<string, string>();
      versions.set(notice.sha256, notice.version);
      next.set(notice.key, versions);
    }
    this.byKey = next;
  }

  async isKnownKey(key: string): Promise<boolean> {
    if (this.byKey.has(key)) return true;
    await this.reload();
    return this.byKey.has(key);
  }

  /** The version whose text equals `sha256` for `key`, if any. */
  async findVersion(key: string, sha256: string): Promise<string | undefined> {
    const hit = this.byKey.get(key)?.get(sha256);
    if (hit !== undefined) return hit;
    await this.reload();
    return this.byKey.get(key)?.get(sha256);
  }

  /** Every registered version, by key then effective time. */
  async list(): Promise<Notice[]> {
    return (await repo.listNotices(this.database.db)).map(toNotice);
  }

  /**
   * Registers a new version of a notice (an operator action, audited in the same
   * transaction). Its text is stored trimmed; granting the key then needs one of its texts.
   */
  async add(
    input: { key: string; version: string; text: string; effectiveAt?: string },
    actor: AuditActor,
  ): Promise<Notice> {
    const text = input.text.trim();
    if (!new RegExp(NOTICE_KEY_PATTERN).test(input.key))
      throw new AppError('VALIDATION_FAILED', 'key: letters, digits, _ . - (1–100, starting with a letter)', {
        field: 'key',
      });
    if (!new RegExp(NOTICE_VERSION_PATTERN).test(input.version))
      throw new AppError('VALIDATION_FAILED', 'version: letters, digits, _ . : - (1–64)', {
        field: 'version',
      });
    if (text === '') throw new AppError('VALIDATION_FAILED', 'text: must not be empty', { field: 'text' });
    // Counted as the API's schema counts (code points), so the two limits are the same.
    if (codePoints(text) > MAX_NOTICE_TEXT)
      throw new AppError('VALIDATION_FAILED', `text must be at most ${MAX_NOTICE_TEXT} characters`, {
        field: 'text',
      });
    // The CLI passes its --effective as given: read as the API's schema reads it, so that only
    // instants whose stored text sorts as time (years 0000-9999) are ever written.
    const effectiveMs = input.effectiveAt === undefined ? Date.now() : parseRfc3339(input.effectiveAt);
    if (effectiveMs === undefined)
      throw new AppError('VALIDATION_FAILED', `effectiveAt must be ${DATE_TIME_WORDS}`, {
        field: 'effectiveAt',
      });
    const effective = new Date(effectiveMs);
    const row = {
      key: input.key,
      version: input.version,
      text,
      sha256: sha256Hex(text),
      effective_at: effective.toISOString(),
      created_at: new Date().toISOString(),
    };
    try {
      await this.database.writeTransaction(async (trx) => {
        await repo.insertNotice(trx, row);
        await this.audit.appendWithin(trx, [
          {
            actor,
            action: 'admin.notice-added',
            details: { key: row.key, version: row.version, sha256: row.sha256 },
          },
        ]);
      });
    } catch (error) {
      if (isUniqueViolation(error))
        throw new AppError(
          'CONFLICT',
          `A notice for ${input.key} with this version or this exact text already exists`,
        );
      throw error;
    }
    await this.reload();
    return toNotice(row);
  }
}

/**
 * The longest notice text, in characters, once trimmed. A grant must carry the text as it was
 * shown, and ConsentHub's `displayedText` is the text plus the white space around it
 * (docs/wire-contracts.md#recording-consents): its limit is this one plus DISPLAYED_TEXT_MARGIN,
 * so every notice that can be registered can be granted.
 */
export const MAX_NOTICE_TEXT = 20_000;

/** How many Unicode code points `text` holds: a character beyond the BMP counts once. */
function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Room in `displayedText` for the white space around a notice's text, which is trimmed. */
export const DISPLAYED_TEXT_MARGIN = 1_000;

/** The characters a notice key and version may hold (they appear in consent requests and events). */
export const NOTICE_KEY_PATTERN = '^[A-Za-z][A-Za-z0-9_.-]{0,99}$';
export const NOTICE_VERSION_PATTERN = '^[A-Za-z0-9_.:-]{1,64}$';

export interface Notice {
  key: string;
  version: string;
  text: string;
  sha256: string;
  effectiveAt: string;
  createdAt: string;
}

function toNotice(row: ConsentNoticeTable): Notice {
  return {
    key: row.key,
    version: row.version,
    text: row.text,
    sha256: row.sha256,
    effectiveAt: row.effective_at,
    createdAt: row.created_at,
  };
}
