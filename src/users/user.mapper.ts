import type { Account } from '../directory/account.model.js';
import { type Viewer, visibleProfile } from '../directory/visibility.model.js';
import type { User } from './user.schemas.js';

/** What a closed account shows instead of its (erased) profile (docs/wire-contracts.md#closed-accounts). */
export const FORMER_USER = 'Former user';
/** When neither the full name nor a public name is there to show. */
const NAMELESS_USER = 'Unknown user';
const AVATAR_SIZES = ['16x16', '24x24', '32x32', '48x48'] as const;

export function defaultAvatarUrls(baseUrl: string): NonNullable<User['avatarUrls']> {
  return Object.fromEntries(
    AVATAR_SIZES.map((size) => [size, `${baseUrl}/avatars/default.svg?size=${size.split('x')[0]}`]),
  ) as NonNullable<User['avatarUrls']>;
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
      ? (Object.fromEntries(AVATAR_SIZES.map((size) => [size, avatarUrl])) as NonNullable<User['avatarUrls']>)
      : defaultAvatarUrls(baseUrl),
    displayName: visible.name ?? visible.nickname ?? NAMELESS_USER,
    active: true,
  };
  if (visible.email !== undefined) user.emailAddress = visible.email;
  if (visible.timeZone !== undefined) user.timeZone = visible.timeZone;
  if (visible.locale !== undefined) user.locale = visible.locale;
  return user;
}
