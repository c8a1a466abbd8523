/** An installation as Connect JWT authentication needs it, its shared secret decrypted. */
export interface InstallationCredential {
  id: string;
  appKey: string;
  clientKey: string;
  siteId: string;
  uninstalled: boolean;
  sharedSecret: string;
}

/** An OAuth client as the token endpoint and the bearer check need it. */
export interface OAuthClientCredential {
  clientId: string;
  appKey: string;
  /** The scrypt hash of its secret (crypto/password-hash.ts). */
  secretHash: string;
  /** The scopes it may be granted. */
  scopes: string[];
}

/**
 * Where app authentication reads apps' credentials, on every app call: implemented by the
 * directory, wired in context.ts. Answers may be remembered for CUSTOS_AUTH_CACHE_MS, as
 * checked API tokens are: uninstalling, rotating or revoking through this process counts from
 * the next request, through another process within that time.
 */
export interface AppCredentials {
  /** The installation a Connect JWT's `iss` names (its clientKey); undefined for none. */
  findInstallation(clientKey: string): Promise<InstallationCredential | undefined>;
  findOAuthClient(clientId: string): Promise<OAuthClientCredential | undefined>;
  /** Sites the app is installed on now: the only sites it may read. */
  listInstalledSiteIds(appKey: string): Promise<readonly string[]>;
}
