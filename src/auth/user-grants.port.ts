import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AppPrincipal } from './principal.js';

/**
 * Tokens people grant to apps (OAuth 2.0 authorization code, "3LO"): issued and checked by
 * the grants domain (src/grants), wired in context.ts. Auth asks it about bearer tokens that
 * are not its own client-credentials tokens, and hands it the token endpoint's other grants.
 */
export interface UserGrants {
  /** The app and granting person behind a token, or undefined when it is not one or no longer works. */
  authenticate(token: string): Promise<AppPrincipal | undefined>;
  /** Answers a token request (authorization_code, refresh_token) on the raw response; the body is already parsed. */
  exchange(request: IncomingMessage, response: ServerResponse, body: Record<string, unknown>): Promise<void>;
}
