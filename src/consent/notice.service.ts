import { createHash } from 'node:crypto';
import type { Database } from '../db/dialect.js';
import { isUniqueViolation } from '../db/dialect.js';
import { AppError } from '../errors/app-error.js';
import * as repo from './notice.repository.js';

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * The registry of consent notices: versioned legal texts per consent key. A key is known
 * when it has at least one notice. Notices are never edited or deleted — they are the
 * proof of what users agreed to — so a cached copy can only be missing new versions;
 * a miss re-reads the table before answering "unknown".
 */
export class NoticeRegistry {
  private byKey = new Map<string, Map<string, string>>();

  constructor(private readonly database: Database) {}

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
}

export const listNotices = (database: Database) => repo.listNotices(database.db);

export async function addNotice(
  database: Database,
  input: { key: string; version: string; text: string; effectiveAt?: string },
) {
  const text = input.text.trim();
  if (!/^[A-Za-z][A-Za-z0-9_.-]{0,99}$/.test(input.key)) {
    throw new AppError('VALIDATION_FAILED', 'key: letters, digits, _ . - (1–100, starting with a letter)', {
      field: 'key',
    });
  }
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(input.version)) {
    throw new AppError('VALIDATION_FAILED', 'version: letters, digits, _ . : - (1–64)', { field: 'version' });
  }
  if (text === '') throw new AppError('VALIDATION_FAILED', 'text: must not be empty', { field: 'text' });
  const effective = input.effectiveAt ? new Date(input.effectiveAt) : new Date();
  if (Number.isNaN(effective.getTime())) {
    throw new AppError('VALIDATION_FAILED', 'effectiveAt: not a date', { field: 'effectiveAt' });
  }
  const row = {
    key: input.key,
    version: input.version,
    text,
    sha256: sha256Hex(text),
    effective_at: effective.toISOString(),
    created_at: new Date().toISOString(),
  };
  try {
    await repo.insertNotice(database.db, row);
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new AppError(
        'CONFLICT',
        `A notice for ${input.key} with this version or this exact text already exists`,
      );
    }
    throw error;
  }
  return row;
}
