import type { AuditActor, AuditLog } from '../audit/audit.service.js';
import type { ConsentService, OwnConsent } from '../consent/consent.service.js';
import type { Database } from '../db/dialect.js';
import {
  VISIBILITY_FIELDS,
  type Visibility,
  type VisibilityField,
  type VisibilitySettings,
} from '../directory/account.model.js';
import type { DirectoryService } from '../directory/directory.service.js';
import {
  type AppProfile,
  findAccount,
  findOrganizationName,
  listAppProfiles,
  listInstallationsSeeing,
} from '../directory/directory-read.service.js';
import type { EmailApiAllowList } from '../directory/email-api-allow-list.port.js';
import { AppError } from '../errors/app-error.js';
import type { AccountHolding, ComplianceService } from '../reporting/compliance.service.js';
import type { SessionService, SessionSummary } from '../sessions/session.service.js';

/** The signed-in person, acting on their own account. */
export interface Person {
  accountId: string;
  sessionId: string;
}

export interface ProfileField {
  field: VisibilityField;
  /** What Custos holds, as text; null when the field is empty. */
  value: string | null;
  visibility: Visibility;
}

export interface AppHoldingView extends Omit<AccountHolding, 'appKey'> {
  app: AppProfile;
}

export interface AppsView {
  /** Apps of the holdings register: they reported holding my data, or were told of a change. */
  holdings: AppHoldingView[];
  /** Apps approved for the Email API, installed where I am a member: they read my email whatever I choose. */
  emailReaders: AppProfile[];
  /** The latest disclosures of my email address to apps, newest first. */
  disclosures: { app: AppProfile; at: string }[];
}

export interface SessionView extends SessionSummary {
  /** The session of this very browser. */
  current: boolean;
}

/** How many disclosures the apps page lists (the newest). */
const DISCLOSURES_SHOWN = 100;

const actorOf = (person: Person): AuditActor => ({ type: 'account', id: person.accountId });

/**
 * The privacy centre: what a signed-in person sees and changes of their own data. Each page
 * reads and each change goes through the service that owns the data (directory, consent,
 * reporting, sessions), so a change here is the same change, with the same effects and audit
 * entries, as through an API or the console; the person is the actor.
 */
export class PrivacyCentre {
  constructor(
    private readonly database: Database,
    private readonly services: {
      directory: DirectoryService;
      consent: ConsentService;
      compliance: ComplianceService;
      allowList: EmailApiAllowList;
      audit: AuditLog;
      sessions: SessionService;
    },
  ) {}

  private async account(accountId: string) {
    const account = await findAccount(this.database.db, accountId);
    if (!account?.active) throw new AppError('NOT_FOUND', 'Your account is closed or does not exist');
    return account;
  }

  /** Each profile field with its value and who may see it. */
  async profile(person: Person): Promise<{ nickname: string | null; fields: ProfileField[] }> {
    const account = await this.account(person.accountId);
    const p = account.profile;
    const values: Record<VisibilityField, string | null> = {
      email: p.email,
      name: p.name,
      avatar: p.avatarUrl,
      jobTitle: p.jobTitle,
      department: p.department,
      // By its name, as the person knows it; by its id only where it has none.
      organization:
        p.organizationId === null
          ? null
          : ((await findOrganizationName(this.database.db, p.organizationId)) ?? p.organizationId),
      location: p.location,
      timeZone: p.timeZone,
      locale: p.locale,
    };
    return {
      nickname: p.nickname,
      fields: VISIBILITY_FIELDS.map((field) => ({
        field,
        value: values[field],
        visibility: account.visibility[field],
      })),
    };
  }

  /** Saves the person's choices; apps see the result on their next call. Returns what changed. */
  saveVisibility(person: Person, changes: Partial<VisibilitySettings>): Promise<VisibilityField[]> {
    return this.services.directory.setVisibility(person.accountId, changes, actorOf(person));
  }

  /** Marketing consent is kept by email address: without one there is nothing to show. */
  async consents(person: Person): Promise<{ email: string | null; consents: OwnConsent[] }> {
    const { email } = (await this.account(person.accountId)).profile;
    return { email, consents: email === null ? [] : await this.services.consent.listOwnConsents(email) };
  }

  async recordConsent(
    person: Person,
    choice: { key: string; granted: boolean; version?: string },
    formUrl: string | null,
  ): Promise<void> {
    const { email } = (await this.account(person.accountId)).profile;
    if (email === null)
      throw new AppError('CONFLICT', 'Your account has no email address to send marketing email to', {
        field: 'key',
      });
    await this.services.consent.recordOwnChoice({ accountId: person.accountId, email }, choice, formUrl);
  }

  async apps(person: Person): Promise<AppsView> {
    const db = this.database.db;
    const { accountId } = person;
    const holdings = await this.services.compliance.listHoldingsOfAccount(accountId);
    const seeing = [...new Set((await listInstallationsSeeing(db, accountId)).map((i) => i.appKey))];
    const approved: string[] = [];
    for (const appKey of seeing) if (await this.services.allowList.isApproved(appKey)) approved.push(appKey);
    const disclosures = await this.services.audit.listEmailDisclosures(accountId, DISCLOSURES_SHOWN);
    const profiles = new Map(
      (
        await listAppProfiles(db, [
          ...holdings.map((h) => h.appKey),
          ...approved,
          ...disclosures.map((d) => d.appKey),
        ])
      ).map((a) => [a.key, a]),
    );
    // An app removed from the directory since is still named by its key.
    const profileOf = (key: string): AppProfile =>
      profiles.get(key) ?? { key, name: key, vendor: '', privacyPolicyUrl: null, termsUrl: null };
    const byName = (a: { app: AppProfile }, b: { app: AppProfile }) => a.app.name.localeCompare(b.app.name);
    return {
      holdings: holdings.map(({ appKey, ...h }) => ({ ...h, app: profileOf(appKey) })).sort(byName),
      emailReaders: approved.map(profileOf).sort((a, b) => a.name.localeCompare(b.name)),
      disclosures: disclosures.map((d) => ({ app: profileOf(d.appKey), at: d.at })),
    };
  }

  async sessions(person: Person): Promise<SessionView[]> {
    const sessions = await this.services.sessions.list(person.accountId);
    const views = sessions.map((s) => ({ ...s, current: s.id === person.sessionId }));
    // This browser first, then the others newest first.
    return [...views.filter((s) => s.current), ...views.filter((s) => !s.current)];
  }

  /** Ends one of the person's other sessions (this browser's is ended by signing out). */
  async endSession(person: Person, sessionId: string): Promise<void> {
    if (sessionId === person.sessionId)
      throw new AppError('CONFLICT', 'This is the session you are using: sign out instead', {
        field: 'sessionId',
      });
    if (!(await this.services.sessions.end(person.accountId, sessionId)))
      throw new AppError('NOT_FOUND', 'No such session, or it has already ended', { field: 'sessionId' });
    await this.services.audit.append([
      {
        actor: actorOf(person),
        action: 'account.session-ended',
        accountId: person.accountId,
        details: { sessionId },
      },
    ]);
  }

  /** "Sign out everywhere else": every session but this browser's. */
  async endOtherSessions(person: Person): Promise<number> {
    const ended = await this.services.sessions.endOthers(person.accountId, person.sessionId);
    if (ended > 0)
      await this.services.audit.append([
        {
          actor: actorOf(person),
          action: 'account.session-ended',
          accountId: person.accountId,
          details: { others: ended },
        },
      ]);
    return ended;
  }
}
