import { type IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import type { ProviderSession } from 'oidc-provider';

/** The names of the authorization server's cookies: its session's, and the two an interaction is tracked by. */
export const PROVIDER_COOKIES = {
  session: 'custos-oauth-session',
  interaction: 'custos-oauth-interaction',
  resume: 'custos-oauth-resume',
} as const;

/**
 * The server's session with the browser that sent `request` (its signed cookie), if it has
 * one. Reading a cookie with a bad signature makes the cookie library clear it: that goes to
 * a response that is never sent, so the caller's response stays its own.
 */
export async function browserSession(
  provider: Provider,
  request: IncomingMessage,
): Promise<ProviderSession | undefined> {
  const cookies = provider.app.createContext(request, new ServerResponse(request)).cookies;
  const id = cookies.get(PROVIDER_COOKIES.session, { signed: true });
  return id ? provider.Session.find(id) : undefined;
}
