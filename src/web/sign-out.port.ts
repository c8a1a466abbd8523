import type { IncomingMessage } from 'node:http';

/**
 * What signing out ends besides Custos's own sessions: the authorization server's session
 * with the browser (docs/app-grants.md#signing-out). Declared here because sign-out is the
 * web stack's; implemented by grants (GrantService), wired in app.ts.
 */
export interface SignOutFollower {
  /**
   * The person signed out on the browser that sent `request` (`everywhere`: on every browser).
   * Ends what that browser, or every browser, holds for them; returns the names of its cookies
   * this browser holds, to be dropped (Path=/). `accountId` is undefined when the browser's
   * session had already ended: only what the browser itself holds ends then.
   */
  signedOut(request: IncomingMessage, accountId: string | undefined, everywhere: boolean): Promise<string[]>;
}
