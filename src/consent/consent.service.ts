import type { Kysely } from 'kysely';
import type { ApiClientPrincipal } from '../auth/principal.js';
import type { Database } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import { AppError } from '../errors/app-error.js';
import { ISO_COUNTRIES, UNKNOWN_LOCALE } from '../geo/countries.js';
import { type GeoIp, InvalidIpError } from '../geo/geoip.js';
import { normalizeEmail } from '../shared/email.js';
import * as repo from './consent.repository.js';
import type {
  ConsentBody,
  ConsentConfigBody,
  ConsentConfiguration,
  ResolvedConsent,
} from './consent.schemas.js';
import type { ConsentInbox } from './consent-inbox.js';
import { type NoticeRegistry, sha256Hex } from './notice.service.js';
import type { OptInPolicy } from './opt-in-policy.js';

export const GMOI_KEY = 'generalMarketingOptIn';

/** Facts about the HTTP call kept as proof: which system recorded the consent, and when. */
export interface CallerMeta {
  remoteAddr: string;
  userAgent: string | null;
}

export class ConsentService {
  constructor(
    private readonly database: Database,
    private readonly notices: NoticeRegistry,
    private readonly inbox: ConsentInbox,
    private readonly geoip: GeoIp,
    private readonly optIn: OptInPolicy,
  ) {}

  /**
   * Validates the whole request, then stores it durably; resolves only after the commit
   * (the 202 promise). Nothing is stored when any consent in it is invalid.
   */
  async submitConsent(principal: ApiClientPrincipal, body: ConsentBody, caller: CallerMeta): Promise<void> {
    const receivedAt = new Date().toISOString();
    const locale = normalizeLocale(body.locale);
    const consents = await this.resolveConsents(body.consents ?? []);
    await this.inbox.enqueue({
      email: normalizeEmail(body.email),
      locale,
      form_url: body.formUrl ?? null,
      provider_id: body.providerId ?? null,
      consents: JSON.stringify(consents),
      client_id: principal.clientId,
      remote_addr: caller.remoteAddr,
      user_agent: caller.userAgent,
      received_at: receivedAt,
      applied_at: null,
    });
  }

  private async resolveConsents(items: NonNullable<ConsentBody['consents']>): Promise<ResolvedConsent[]> {
    const seen = new Set<string>();
    const resolved: ResolvedConsent[] = [];
    for (const [index, item] of items.entries()) {
      const field = `consents.${index}`;
      if (seen.has(item.key)) {
        throw new AppError('VALIDATION_FAILED', `${field}.key: ${item.key} appears more than once`, {
          field: `${field}.key`,
        });
      }
      seen.add(item.key);
      if (!(await this.notices.isKnownKey(item.key))) {
        throw new AppError('UNKNOWN_CONSENT_KEY', `${field}.key: unknown consent key ${item.key}`, {
          field: `${field}.key`,
        });
      }
      const text = item.displayedText ?? null;
      const textSha256 = text === null ? null : sha256Hex(text.trim());
      const noticeVersion =
        textSha256 === null ? undefined : await this.notices.findVersion(item.key, textSha256);
      // A grant is only valid for a text the operator registered; GDPR art. 7(3): a
      // withdrawal must be as easy as the grant, so it needs no particular text.
      if (item.granted && noticeVersion === undefined) {
        throw new AppError(
          'UNREGISTERED_NOTICE_TEXT',
          `${field}.displayedText: granting ${item.key} requires the exact text of a registered notice version`,
          { field: `${field}.displayedText` },
        );
      }
      resolved.push({
        key: item.key,
        granted: item.granted,
        displayedText: text,
        textSha256,
        noticeVersion: noticeVersion ?? null,
      });
    }
    return resolved;
  }

  async getConsentConfiguration(body: ConsentConfigBody): Promise<ConsentConfiguration> {
    const locale = this.locate(body.userIp);
    const email = body.email ? normalizeEmail(body.email) : undefined;
    const choice = email ? await repo.findChoice(this.database.db, email, GMOI_KEY) : undefined;
    // GDPR art. 21(3): after an objection to direct marketing the data is no longer used for
    // it, whatever a later grant says, until the person lifts the objection themselves
    // (docs/legal-rules.md#art-21-objection-to-direct-marketing).
    const suppressed = email !== undefined && (await repo.isSuppressed(this.database.db, email));
    return {
      locale,
      localeRequiresMarketingCommunicationOptIn: this.optIn.requiresOptIn(locale),
      hasUserMadeChoiceOnMarketingCommunicationOptIn: suppressed || choice !== undefined,
      usersChoiceOnMarketingCommunicationOptIn: !suppressed && choice?.granted === 1,
    };
  }

  /** The person's consent events, oldest first, with the exact texts they were shown. */
  async listHistory(email: string) {
    const rows = await repo.listEventsByEmail(this.database.db, normalizeEmail(email));
    return rows.map((r) => ({
      key: r.key,
      granted: r.granted === 1,
      displayedText: r.displayed_text,
      textSha256: r.text_sha256,
      noticeVersion: r.notice_version,
      formUrl: r.form_url,
      locale: r.locale,
      providerId: r.provider_id,
      receivedAt: r.received_at,
      appliedAt: r.applied_at,
    }));
  }

  /** Records an objection to direct marketing, in the caller's transaction (src/dsr). */
  async suppressMarketing(
    trx: Kysely<DB>,
    suppression: { email: string; accountId: string; requestId: string; at: string },
  ): Promise<void> {
    await repo.insertSuppression(trx, {
      email: normalizeEmail(suppression.email),
      account_id: suppression.accountId,
      request_id: suppression.requestId,
      since: suppression.at,
    });
  }

  /** Lifts the account's objection to direct marketing; false when there was none. */
  async liftMarketingSuppression(trx: Kysely<DB>, accountId: string): Promise<boolean> {
    return (await repo.deleteSuppressionsOfAccount(trx, accountId)) > 0;
  }

  async findMarketingSuppression(accountId: string): Promise<{ since: string } | undefined> {
    const row = await repo.findSuppressionOfAccount(this.database.db, accountId);
    return row && { since: row.since };
  }

  private locate(userIp: string | undefined): string {
    if (userIp === undefined) return UNKNOWN_LOCALE;
    try {
      return this.geoip.countryOf(userIp);
    } catch (error) {
      if (error instanceof InvalidIpError) {
        throw new AppError('VALIDATION_FAILED', 'userIp: not a valid IPv4 or IPv6 address', {
          field: 'userIp',
        });
      }
      throw error;
    }
  }
}

function normalizeLocale(locale: string): string {
  if (locale === UNKNOWN_LOCALE) return locale;
  const code = locale.toUpperCase();
  if (!ISO_COUNTRIES.has(code)) {
    throw new AppError(
      'VALIDATION_FAILED',
      `locale: ${locale} is not an ISO 3166-1 alpha-2 country code or UNKNOWN`,
      {
        field: 'locale',
      },
    );
  }
  return code;
}
