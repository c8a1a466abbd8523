import { APP_SCOPES, USER_GRANT_SCOPES } from '../auth/scopes.js';

/** What each scope lets the app do, in the words the consent screen and the privacy centre use. */
const PLAIN_WORDS: Record<string, string> = {
  ...USER_GRANT_SCOPES,
  'read:user': 'See the public profile details of people on the sites where the app is installed',
  'report:personal-data': 'Report which accounts it stores data about, so it can be told when they close',
};

export function describeScope(scope: string): string {
  return PLAIN_WORDS[scope] ?? (APP_SCOPES as Record<string, string>)[scope] ?? scope;
}

/** The scopes a grant holds, from the library's grant record. */
export function grantScopes(payload: string): string[] {
  const parsed = JSON.parse(payload) as { openid?: { scope?: string } };
  return (parsed.openid?.scope ?? '').split(' ').filter((s) => s !== '' && s !== 'openid');
}
