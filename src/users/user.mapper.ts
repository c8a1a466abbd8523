import type { Account } from '../directory/account.model.js';
import { type Viewer, visibleProfile } from '../directory/visibility.model.js';
import type { Me, User } from './user.schemas.js';

/** What a closed account shows instead of its (erased) profile (docs/wire-contracts.md#closed-accounts). */
export const FORMER_USER = 'Former user';
/** When neither the full name nor a public name is there to show. */
const NAMELESS_USER = 'Unknown user';
const AVATAR_SIZES = ['16x16', '24x24', '32x32', '48x48'] as const;

type AvatarUrls = NonNullable<User['avatarUrls']>;

/** The last base URL's default avatars: the base is the configured public URL, the same on every call. */
let defaultAvatars: { baseUrl: string; urls: Readonly<AvatarUrls> } | undefined;

export function defaultAvatarUrls(baseUrl: string): Readonly<AvatarUrls> {
  if (defaultAvatars?.baseUrl !== baseUrl) {
    const urls = Object.fromEntries(
      AVATAR_SIZES.map((size) => [size, `${baseUrl}/avatars/default.svg?size=${size.split('x')[0]}`]),
    ) as AvatarUrls;
    defaultAvatars = { baseUrl, urls: Object.freeze(urls) };
  }
  return defaultAvatars.urls;
}

/** The wire user object for `viewer`, built only from what the visibility rule lets through. */
export function toUser(account: Account, viewer: Viewer, baseUrl: string): User {
  const self = `${baseUrl}/rest/api/3/user?accountId=${encodeURIComponent(account.accountId)}`;
  if (!account.active) {
    return {
      self,
      accountId: account.accountId,
      accountType: account.accountType,
      displayName: FORMER_USER,
      active: false,
    };
  }
  const visible = visibleProfile(account, viewer);
  const avatarUrl = visible.avatarUrl;
  const user: User = {
    self,
    accountId: account.accountId,
    accountType: account.accountType,
    avatarUrls: avatarUrl
      ? { '16x16': avatarUrl, '24x24': avatarUrl, '32x32': avatarUrl, '48x48': avatarUrl }
      : defaultAvatarUrls(baseUrl),
    displayName: visible.name ?? visible.nickname ?? NAMELESS_USER,
    active: true,
  };
  if (visible.email !== undefined) user.emailAddress = visible.email;
  if (visible.timeZone !== undefined) user.timeZone = visible.timeZone;
  if (visible.locale !== undefined) user.locale = visible.locale;
  return user;
}

/** The `/me` object for the granting person, built only from what the visibility rule lets through. */
export function toMe(account: Account, viewer: Viewer, baseUrl: string): Me {
  const visible = visibleProfile(account, viewer);
  const extended: Me['extended_profile'] = {};
  if (visible.jobTitle !== undefined) extended.job_title = visible.jobTitle;
  if (visible.organizationId !== undefined) extended.organization = visible.organizationId;
  if (visible.department !== undefined) extended.department = visible.department;
  if (visible.location !== undefined) extended.location = visible.location;
  const me: Me = {
    account_type: account.accountType,
    account_id: account.accountId,
    name: visible.name ?? visible.nickname ?? NAMELESS_USER,
    picture: visible.avatarUrl ?? defaultAvatarUrls(baseUrl)['48x48'],
    account_status: 'active',
    extended_profile: extended,
  };
  if (visible.email !== undefined) me.email = visible.email;
  if (visible.nickname !== undefined) me.nickname = visible.nickname;
  if (visible.timeZone !== undefined) me.zoneinfo = visible.timeZone;
  if (visible.locale !== undefined) me.locale = visible.locale;
  return me;
}
