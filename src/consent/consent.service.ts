import type { Kysely } from 'kysely';
import type { ApiClientPrincipal } from '../auth/principal.js';
import { sha256Hex } from '../crypto/digest.js';
import type { Database } from '../db/dialect.js';
import type { ConsentChannel, DB } from '../db/schema.js';
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
import type { NoticeRegistry } from './notice.service.js';
import type { OptInPolicy } from './opt-in-policy.js';
import type { ReceiptService } from './receipt.service.js';

export const GMOI_KEY = 'generalMarketingOptIn';

/** The channel, and the recorder's name, of choices people make on their own privacy centre page. */
export const PRIVACY_CENTRE_CHANNEL = 'privacy-centre';

/** Facts about the HTTP call kept as proof: which system recorded the consent, and when. */
export interface CallerMeta {
  remoteAddr: string;
  userAgent: string | null;
}

/** A person's current choice for one consent key, as recorded (latest received request wins). */
export interface OwnChoice {
  granted: boolean;
  /** The exact text shown when the choice was made (none for a withdrawal through the API). */
  displayedText: string | null;
  noticeVersion: string | null;
  receivedAt: string;
  channel: ConsentChannel;
  /** Accepted and durable, not yet turned into a consent event by the worker (moments). */
  pending: boolean;
}

/** One consent key as its person sees it: the text they would agree to now, and their choice. */
export interface OwnConsent {
  key: string;
  /** The latest effective version of the key's notice. */
  notice: { version: string; text: string };
  choice: OwnChoice | undefined;
}

export class ConsentService {
  constructor(
    private readonly database: Database,
    private readonly notices: NoticeRegistry,
    private readonly inbox: ConsentInbox,
    private readonly geoip: GeoIp,
    private readonly optIn: OptInPolicy,
    /** Signs the receipt of an objection (the applier signs those of consent events). */
    private readonly receipts?: ReceiptService,
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

  /**
   * A person's own choice, made signed in on the privacy centre: the same inbox, events and
   * audit as the API, with the privacy centre as the channel and the person as the one who
   * recorded it. Granting records the exact text of the notice version the page showed;
   * withdrawing needs no text (GDPR art. 7(3): as easy as giving).
   */
  async recordOwnChoice(
    person: { accountId: string; email: string },
    choice: { key: string; granted: boolean; version?: string },
    formUrl: string | null,
  ): Promise<void> {
    if (!(await this.notices.isKnownKey(choice.key)))
      throw new AppError('UNKNOWN_CONSENT_KEY', `key: unknown consent key ${choice.key}`, { field: 'key' });
    let resolved: ResolvedConsent = {
      key: choice.key,
      granted: false,
      displayedText: null,
      textSha256: null,
      noticeVersion: null,
    };
    if (choice.granted) {
      const notice = (await this.notices.list()).find(
        (n) => n.key === choice.key && n.version === choice.version,
      );
      if (!notice)
        throw new AppError('VALIDATION_FAILED', 'version: not a registered version of this notice', {
          field: 'version',
        });
      resolved = {
        ...resolved,
        granted: true,
        displayedText: notice.text,
        textSha256: notice.sha256,
        noticeVersion: notice.version,
      };
    }
    await this.inbox.enqueue({
      email: normalizeEmail(person.email),
      // The person's country is not known here: the strictest rule (explicit opt-in) applies.
      locale: UNKNOWN_LOCALE,
      form_url: formUrl,
      provider_id: null,
      consents: JSON.stringify([resolved]),
      client_id: PRIVACY_CENTRE_CHANNEL,
      // People's addresses are not kept (as for their sessions): the signed-in account is the proof.
      remote_addr: '',
      user_agent: null,
      received_at: new Date().toISOString(),
      applied_at: null,
      channel: PRIVACY_CENTRE_CHANNEL,
      account_id: person.accountId,
    });
  }

  /** Every consent key with its current notice and the person's choice, pending ones included. */
  async listOwnConsents(email: string): Promise<OwnConsent[]> {
    const db = this.database.db;
    const normalized = normalizeEmail(email);
    const choices = new Map<string, OwnChoice & { seq: number }>();
    // The latest request wins; the same request read both pending and applied counts as applied.
    const keep = (key: string, c: OwnChoice & { seq: number }) => {
      const before = choices.get(key);
      if (!before || before.seq < c.seq || (before.seq === c.seq && before.pending && !c.pending))
        choices.set(key, c);
    };
    // Pending requests first, then events: the applier may turn one into the other between the
    // two reads, and in this order it is then read as both rather than as neither.
    for (const r of await repo.listPendingRequestsByEmail(db, normalized))
      for (const c of JSON.parse(r.consents) as ResolvedConsent[])
        keep(c.key, {
          seq: Number(r.seq),
          granted: c.granted,
          displayedText: c.displayedText,
          noticeVersion: c.noticeVersion,
          receivedAt: r.received_at,
          channel: r.channel,
          pending: true,
        });
    for (const e of await repo.listEventsByEmail(db, normalized))
      keep(e.key, {
        seq: Number(e.request_seq),
        granted: e.granted === 1,
        displayedText: e.displayed_text,
        noticeVersion: e.notice_version,
        receivedAt: e.received_at,
        channel: e.channel,
        pending: false,
      });
    const now = new Date().toISOString();
    const current = new Map<string, { version: string; text: string }>();
    // Notices come by key then effective time: the last effective one of each key wins.
    for (const n of await this.notices.list())
      if (n.effectiveAt <= now || !current.has(n.key))
        current.set(n.key, { version: n.version, text: n.text });
    return [...current].map(([key, notice]) => {
      const found = choices.get(key);
      if (!found) return { key, notice, choice: undefined };
      const { seq: _seq, ...choice } = found;
      return { key, notice, choice };
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
    // GDPR art. 21(3): after an objection to direct marketing the data is no longer used for
    // it, whatever a later grant says, until the person lifts the objection themselves
    // (docs/legal-rules.md#art-21-objection-to-direct-marketing).
    const { granted, suppressed } = email
      ? await repo.findMarketingState(this.database.db, email, GMOI_KEY)
      : { granted: undefined, suppressed: false };
    return {
      locale,
      localeRequiresMarketingCommunicationOptIn: this.optIn.requiresOptIn(locale),
      hasUserMadeChoiceOnMarketingCommunicationOptIn: suppressed || granted !== undefined,
      usersChoiceOnMarketingCommunicationOptIn: !suppressed && granted === true,
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
    await this.suppress(trx, suppression);
    await this.receipts?.issueForObjection(trx, {
      accountId: suppression.accountId,
      email: suppression.email,
      at: suppression.at,
    });
  }

  /**
   * Suppresses the address of an account being erased, in the caller's transaction (src/dsr):
   * its consent events stay as proof of what was given, but ConsentHub answers "no" for the
   * address from now on. No receipt: the person did not object, their account was erased.
   */
  async suppressMarketingOfErased(
    trx: Kysely<DB>,
    suppression: { email: string; accountId: string; requestId: string; at: string },
  ): Promise<void> {
    await this.suppress(trx, suppression);
  }

  /** ConsentHub answers "no" for the address from now on (kept if it already does). */
  private async suppress(
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

  /**
   * The account's email was corrected (src/dsr, in its transaction): its objection to direct
   * marketing, if it has one, covers the new address too. The old address stays suppressed:
   * others (a CRM) may still send to it. False when the account has no objection.
   */
  async suppressCorrectedAddress(trx: Kysely<DB>, accountId: string, email: string): Promise<boolean> {
    const objection = await repo.findSuppressionOfAccount(trx, accountId);
    if (!objection) return false;
    await repo.insertSuppression(trx, {
      email: normalizeEmail(email),
      account_id: accountId,
      request_id: objection.request_id,
      since: objection.since,
    });
    return true;
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
