import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../audit/audit.service.js';
import type { Database } from '../db/dialect.js';
import { UNKNOWN_LOCALE } from '../geo/countries.js';
import type { PreferenceEvents } from './preference-events.port.js';
import { DO_NOT_SELL_OR_SHARE } from './receipt.model.js';
import * as repo from './receipt.repository.js';
import type { ReceiptService } from './receipt.service.js';

/** A preference as the privacy centre shows it and a data export includes it. */
export interface PreferenceView {
  preference: string;
  value: boolean;
  method: string;
  recordedAt: string;
  receiptId: string;
}

/**
 * A person's privacy preferences beside their email consent. Global Privacy Control
 * (`Sec-GPC: 1`) is an opt-out of the sale or sharing of personal information (CCPA; see
 * docs/legal-rules.md#global-privacy-control), not a withdrawal of email consent: it is
 * recorded as its own preference, with method `gpc`, never as a consent event.
 */
export class PreferenceService {
  constructor(
    private readonly database: Database,
    private readonly audit: AuditLog,
    private readonly receipts: ReceiptService,
    private readonly events: PreferenceEvents,
  ) {}

  /**
   * Records "do not sell or share" for the person from a GPC signal: once. A browser sends
   * the signal with every request, so a person who already has a preference changes nothing
   * (no new receipt, no webhook): one that is on stays on, and one the person turned off
   * themselves in the privacy centre stays their choice (CCPA regs §7025(c)(3): the page told
   * them of the signal when they chose). Returns whether anything was recorded.
   */
  recordGpcSignal(accountId: string): Promise<boolean> {
    return this.record(accountId, true, 'gpc', (current) => current === undefined);
  }

  /**
   * The person's own choice in the privacy centre: turns "do not sell or share" on or off, with
   * a new signed receipt, an audit entry and the webhook, as a GPC signal records it. Turning it
   * off is theirs to do; a browser's signal still applies to the requests that carry it.
   * Returns whether anything changed (the same choice again records nothing).
   */
  setDoNotSellOrShare(accountId: string, value: boolean): Promise<boolean> {
    return this.record(accountId, value, 'privacy-centre', (current) => current?.value !== (value ? 1 : 0));
  }

  /**
   * Writes the preference, its receipt, audit entry and webhook in one transaction, when
   * `applies` to the stored row: checked before and again under the write lock (two tabs
   * may send the same request at once).
   */
  private async record(
    accountId: string,
    value: boolean,
    method: string,
    applies: (current: { value: number } | undefined) => boolean,
  ): Promise<boolean> {
    if (!applies(await repo.findPreference(this.database.db, accountId, DO_NOT_SELL_OR_SHARE))) return false;
    return this.database.writeTransaction(async (trx) => {
      if (!applies(await repo.findPreference(trx, accountId, DO_NOT_SELL_OR_SHARE))) return false;
      const at = new Date().toISOString();
      const receiptId = randomUUID();
      const { kid, jws } = await this.receipts.sign({
        receiptId,
        at,
        jurisdiction: UNKNOWN_LOCALE,
        method,
        principal: { accountId },
        purpose: DO_NOT_SELL_OR_SHARE,
        // The opt-out, or its withdrawal.
        status: value ? 'opted-out' : 'withdrawn',
        notice: null,
        formUrl: null,
        preferences: { doNotSellOrShare: value },
      });
      await this.receipts.store(trx, {
        receipt_id: receiptId,
        request_seq: null,
        consent_key: null,
        account_id: accountId,
        subject_sha256: null,
        kid,
        jws,
        issued_at: at,
      });
      await repo.upsertPreference(trx, {
        account_id: accountId,
        preference: DO_NOT_SELL_OR_SHARE,
        value: value ? 1 : 0,
        method,
        recorded_at: at,
        receipt_id: receiptId,
      });
      await this.audit.appendWithin(trx, [
        {
          actor: { type: 'account', id: accountId },
          action: 'preference.changed',
          details: { preference: DO_NOT_SELL_OR_SHARE, value, method, receiptId },
        },
      ]);
      await this.events.announcePreferencesChanged(trx, { accountId, doNotSellOrShare: value, at });
      return true;
    });
  }

  /** The person's preferences: what the privacy centre shows and a data export includes. */
  async listPreferencesOf(accountId: string): Promise<PreferenceView[]> {
    return (await repo.listPreferences(this.database.db, accountId)).map((row) => ({
      preference: row.preference,
      value: row.value === 1,
      method: row.method,
      recordedAt: row.recorded_at,
      receiptId: row.receipt_id,
    }));
  }
}
