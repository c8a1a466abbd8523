/**
 * Every scope Custos knows, with what it grants: the one catalogue that routes declare from,
 * `token create` and the OAuth client checks refuse against, and the OpenAPI description
 * lists. A scope missing here cannot be required by a route or granted to anyone.
 */

/** Held by API clients (HTTP Basic `email:token`), granted with `custos token create` or the admin API. */
export const API_CLIENT_SCOPES = {
  'manage:consent-hub-consent': "Set and read people's consents (the ConsentHub API)",
  'admin:custos':
    'The admin API: directory, accounts, apps and webhooks, API tokens, notices, access decisions, audit log, jobs',
} as const;
export type ApiClientScope = keyof typeof API_CLIENT_SCOPES;

/** Held by third-party apps: by every installation (Connect JWT), or as an OAuth client is allowed. */
export const APP_SCOPES = {
  'read:user': 'Read users as their visibility settings allow; the Email API if approved',
  'report:personal-data': 'Report the account IDs the app stores, and confirm erasures',
  'send:notification': 'Ask Custos to mail people a notification, without learning their addresses',
} as const;
export type AppScope = keyof typeof APP_SCOPES;

/**
 * Granted by a person to an app (OAuth 2.0 authorization code, "3LO"): the token the app gets
 * speaks for that person, and opens only what they agreed to (src/grants).
 */
export const USER_GRANT_SCOPES = {
  'read:me': 'Who you are: your account ID and the profile details you made public',
  'read:account':
    'Your own profile details, including the ones you keep private (your email address among them)',
  offline_access: 'Keep this access while you are not using the app, until you remove it',
} as const;
export type UserGrantScope = keyof typeof USER_GRANT_SCOPES;
export const USER_GRANT_SCOPE_NAMES = Object.keys(USER_GRANT_SCOPES) as UserGrantScope[];
export const READ_ME_SCOPE = 'read:me' satisfies UserGrantScope;
export const READ_ACCOUNT_SCOPE = 'read:account' satisfies UserGrantScope;

export const CONSENT_HUB_SCOPE = 'manage:consent-hub-consent' satisfies ApiClientScope;
export const ADMIN_SCOPE = 'admin:custos' satisfies ApiClientScope;
export const READ_USER_SCOPE = 'read:user' satisfies AppScope;
export const REPORT_PD_SCOPE = 'report:personal-data' satisfies AppScope;
export const SEND_NOTIFICATION_SCOPE = 'send:notification' satisfies AppScope;

/**
 * Not grantable: shown on an app's installations while the app is approved for the Email API,
 * so a site admin sees that the app may read email addresses. Approval comes from the access
 * programme, not from a grant, and no route requires the scope: the Email API reads the allow
 * list on every call (docs/wire-contracts.md#approval-and-its-limits).
 */
export const EMAIL_ADDRESS_SCOPE = 'read:email-address:custos';

export const API_CLIENT_SCOPE_NAMES = Object.keys(API_CLIENT_SCOPES) as ApiClientScope[];
export const APP_SCOPE_NAMES = Object.keys(APP_SCOPES) as AppScope[];

export function isApiClientScope(scope: string): scope is ApiClientScope {
  return Object.hasOwn(API_CLIENT_SCOPES, scope);
}
