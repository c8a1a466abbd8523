import { READ_ACCOUNT_SCOPE } from '../auth/scopes.js';
import {
  type Account,
  type Profile,
  VISIBILITY_FIELDS,
  type Visibility,
  type VisibilityField,
} from './account.model.js';

/**
 * Who is looking at a profile. Apps are always `app`, whether or not their JWT names an acting user
 * in `sub`: impersonation opens nothing (docs/wire-contracts.md#profile-visibility). `organization`
 * visibility is for people of the same organization in Custos's own screens; admins (the operator's
 * privacy team, admin API) see everything, as the source platform's "only you and admins".
 */
export type Viewer =
  /**
   * `grant`: the app holds a grant from `accountId` (OAuth 2.0 authorization code) for
   * `scopes`; with read:account it opens that account's own private fields, and no one else's.
   */
  | { kind: 'app'; grant?: { accountId: string; scopes: ReadonlySet<string> } }
  | { kind: 'admin' }
  | { kind: 'account'; accountId: string; organizationId: string | null };

/** A profile with every field the viewer may not see removed (undefined). */
export type VisibleProfile = { [K in keyof Profile]?: NonNullable<Profile[K]> };

const FIELD_OF: Record<Exclude<keyof Profile, 'nickname'>, VisibilityField> = {
  email: 'email',
  name: 'name',
  avatarUrl: 'avatar',
  jobTitle: 'jobTitle',
  department: 'department',
  organizationId: 'organization',
  location: 'location',
  timeZone: 'timeZone',
  locale: 'locale',
};

function mayView(visibility: Visibility, account: Account, viewer: Viewer): boolean {
  if (visibility === 'public') return true;
  switch (viewer.kind) {
    case 'admin':
      return true;
    case 'app':
      // By default apps get only what the user made public; the user's own grant with
      // read:account opens their own fields to that app (docs/wire-contracts.md#profile-visibility).
      return grantOpens(viewer.grant, account);
    case 'account':
      if (viewer.accountId === account.accountId) return true;
      return (
        visibility === 'organization' &&
        viewer.organizationId !== null &&
        viewer.organizationId === account.profile.organizationId
      );
  }
}

function grantOpens(grant: { accountId: string; scopes: ReadonlySet<string> } | undefined, account: Account) {
  return grant !== undefined && grant.accountId === account.accountId && grant.scopes.has(READ_ACCOUNT_SCOPE);
}

/**
 * The fields of `account`, with a value, that an app sees only because of the account's grant
 * to it (its private and organization fields, with read:account): what a grant discloses, for
 * the audit log, the consent screen and the person's list of connected apps.
 */
export function fieldsOpenedByGrant(account: Account, scopes: ReadonlySet<string>): VisibilityField[] {
  if (!account.active || !scopes.has(READ_ACCOUNT_SCOPE)) return [];
  const keys = Object.keys(FIELD_OF) as (keyof typeof FIELD_OF)[];
  return VISIBILITY_FIELDS.filter(
    (field) =>
      account.visibility[field] !== 'public' &&
      keys.some((key) => FIELD_OF[key] === field && account.profile[key] !== null),
  );
}

/**
 * THE visibility rule: every surface that shows profile PD (user API, admin API, screens)
 * goes through this one function. A closed account has no profile left to show.
 */
export function visibleProfile(account: Account, viewer: Viewer): VisibleProfile {
  const out: VisibleProfile = {};
  if (!account.active) return out;
  const put = <K extends keyof Profile>(key: K) => {
    const value = account.profile[key];
    if (value !== null) out[key] = value as NonNullable<Profile[K]>;
  };
  // The public name is always visible: it stands in for a hidden full name.
  put('nickname');
  for (const key of Object.keys(FIELD_OF) as (keyof typeof FIELD_OF)[]) {
    if (mayView(account.visibility[FIELD_OF[key]], account, viewer)) put(key);
  }
  return out;
}
