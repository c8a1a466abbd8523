import type { Selectable } from 'kysely';
import type { AccountTable } from '../db/schema.js';

export const ACCOUNT_TYPES = ['atlassian', 'app', 'customer'] as const;
export type AccountType = (typeof ACCOUNT_TYPES)[number];

export const VISIBILITIES = ['public', 'organization', 'private'] as const;
export type Visibility = (typeof VISIBILITIES)[number];

/**
 * Profile fields whose visibility the user controls. The public name (nickname) is not among them:
 * it is what others see when the full name is hidden, so it is always public
 * (docs/wire-contracts.md#profile-visibility).
 */
export const VISIBILITY_FIELDS = [
  'email',
  'name',
  'avatar',
  'jobTitle',
  'department',
  'organization',
  'location',
  'timeZone',
  'locale',
] as const;
export type VisibilityField = (typeof VISIBILITY_FIELDS)[number];
export type VisibilitySettings = Record<VisibilityField, Visibility>;

/**
 * Each profile field by the name people see it under, in the order pages list them: one
 * wording for the privacy centre, the consent screen and the grants it lists.
 */
export const FIELD_LABELS: Record<VisibilityField, string> = {
  email: 'Email address',
  name: 'Full name',
  avatar: 'Profile picture',
  jobTitle: 'Job title',
  department: 'Department',
  organization: 'Organization',
  location: 'Location',
  timeZone: 'Time zone',
  locale: 'Language and region',
};

/**
 * Email is hidden by default; the other fields default to public, as on the source platform
 * (docs/wire-contracts.md#profile-visibility).
 */
export const DEFAULT_VISIBILITY: VisibilitySettings = {
  email: 'private',
  name: 'public',
  avatar: 'public',
  jobTitle: 'public',
  department: 'public',
  organization: 'public',
  location: 'public',
  timeZone: 'public',
  locale: 'public',
};

export function withDefaultVisibility(partial: Partial<VisibilitySettings> = {}): VisibilitySettings {
  return { ...DEFAULT_VISIBILITY, ...partial };
}

/** The fields a person chose themselves, from their stored JSON array (`accounts.visibility_chosen`). */
export function chosenVisibilityFields(text: string): VisibilityField[] {
  if (text === '[]') return [];
  const chosen = new Set(JSON.parse(text) as string[]);
  return VISIBILITY_FIELDS.filter((f) => chosen.has(f));
}

/** The stored JSON array of chosen fields, with `fields` added: a choice stays one. */
export function withChosenVisibilityFields(text: string, fields: readonly VisibilityField[]): string {
  const chosen = new Set<string>([...chosenVisibilityFields(text), ...fields]);
  return JSON.stringify(VISIBILITY_FIELDS.filter((f) => chosen.has(f)));
}

/**
 * A person's own choice wins over the operator's import: the settings an import gives a stored
 * account are the file's (`wanted`, defaults filled in) except for the fields the person chose
 * themselves, which keep their setting (docs/app-developers.md#loading-the-directory-custos-import).
 * `kept`: the file wanted another setting for at least one of those.
 */
export function keepOwnVisibility(
  wanted: VisibilitySettings,
  stored: VisibilitySettings,
  chosen: readonly VisibilityField[],
): { visibility: VisibilitySettings; kept: boolean } {
  if (chosen.length === 0) return { visibility: wanted, kept: false };
  const visibility = { ...wanted };
  let kept = false;
  for (const field of chosen) {
    if (wanted[field] !== stored[field]) kept = true;
    visibility[field] = stored[field];
  }
  return { visibility, kept };
}

/** The personal data of an account's profile: erased when the account closes. */
export interface Profile {
  email: string | null;
  name: string | null;
  nickname: string | null;
  avatarUrl: string | null;
  jobTitle: string | null;
  department: string | null;
  organizationId: string | null;
  location: string | null;
  timeZone: string | null;
  locale: string | null;
}

export const EMPTY_PROFILE: Profile = {
  email: null,
  name: null,
  nickname: null,
  avatarUrl: null,
  jobTitle: null,
  department: null,
  organizationId: null,
  location: null,
  timeZone: null,
  locale: null,
};

export interface Account {
  accountId: string;
  accountType: AccountType;
  active: boolean;
  profile: Profile;
  visibility: VisibilitySettings;
  pdUpdatedAt: string;
  closedAt: string | null;
}

const MAX_VISIBILITY_TEXTS = 1_000;
/**
 * Visibility settings by their stored JSON: accounts share a few combinations, and the user
 * API reads one per account shown. Frozen, since every account with that text shares it.
 */
const visibilityByText = new Map<string, Readonly<VisibilitySettings>>();

function visibilityOf(text: string): Readonly<VisibilitySettings> {
  let settings = visibilityByText.get(text);
  if (!settings) {
    settings = Object.freeze(withDefaultVisibility(JSON.parse(text) as Partial<VisibilitySettings>));
    if (visibilityByText.size >= MAX_VISIBILITY_TEXTS) visibilityByText.clear();
    visibilityByText.set(text, settings);
  }
  return settings;
}

/**
 * An account from its row; every column but the row's own times, which settings the person
 * chose, and the folded nickname (the search's own copy).
 */
export function accountFromRow(
  row: Omit<Selectable<AccountTable>, 'created_at' | 'updated_at' | 'visibility_chosen' | 'nickname_folded'>,
): Account {
  return {
    accountId: row.account_id,
    accountType: row.account_type as AccountType,
    active: row.status === 'active',
    profile: {
      email: row.email,
      name: row.name,
      nickname: row.nickname,
      avatarUrl: row.avatar_url,
      jobTitle: row.job_title,
      department: row.department,
      organizationId: row.organization_id,
      location: row.location,
      timeZone: row.time_zone,
      locale: row.locale,
    },
    visibility: visibilityOf(row.visibility),
    pdUpdatedAt: row.pd_updated_at,
    closedAt: row.closed_at,
  };
}

/**
 * A public name as the user search compares it (docs/account-id-migration.md): without regard
 * to case in all of Unicode, and to how its accents are encoded. Upper case then lower case
 * (JavaScript's full, locale-independent mappings), so that `ß` and `SS`, or `ς` and `Σ`,
 * compare equal, then Unicode normalization form C, so that `é` and `e` + U+0301 do. It is
 * computed here, never by an engine: SQLite's lower() changes only A-Z, and PostgreSQL's
 * depends on the database's collation. Stored as `accounts.nickname_folded` by every write
 * of the name (profileColumns) and applied to every query, so both sides fold alike; the
 * migration that added the column holds a frozen copy.
 */
export function foldName(name: string): string {
  return name.toUpperCase().toLowerCase().normalize('NFC');
}

/** The profile columns of a row, for inserts and updates. */
export function profileColumns(profile: Profile) {
  return {
    email: profile.email,
    name: profile.name,
    nickname: profile.nickname,
    nickname_folded: profile.nickname === null ? null : foldName(profile.nickname),
    avatar_url: profile.avatarUrl,
    job_title: profile.jobTitle,
    department: profile.department,
    organization_id: profile.organizationId,
    location: profile.location,
    time_zone: profile.timeZone,
    locale: profile.locale,
  };
}
