import type {
  AppCredentials,
  InstallationCredential,
  OAuthClientCredential,
} from '../auth/app-credentials.port.js';
import type { SecretBox } from '../crypto/secret-box.js';
import type { Database } from '../db/dialect.js';
import * as apps from './app.repository.js';
import { credentialChangeCount } from './credential-changes.js';
import { secretContext } from './secrets.js';

const CACHE_MAX = 10_000;

/**
 * Credentials read from the database, remembered for `ttlMs` and only while this process
 * changed no credential since they were read (credential-changes.ts). Only what exists is
 * remembered: an unknown key is read again on its next use, so a new installation or
 * client counts at once. Bounded: a flood of distinct keys cannot grow memory without limit.
 */
class CredentialCache<T> {
  private readonly entries = new Map<string, { value: T; changeCount: number; expiresAt: number }>();

  constructor(private readonly ttlMs: number) {}

  async get(key: string, read: () => Promise<T | undefined>): Promise<T | undefined> {
    const now = Date.now();
    const changeCount = credentialChangeCount();
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt > now && entry.changeCount === changeCount) return entry.value;
    const value = await read();
    if (value === undefined) {
      this.entries.delete(key);
    } else if (this.ttlMs > 0) {
      if (this.entries.size >= CACHE_MAX) this.entries.clear();
      this.entries.set(key, { value, changeCount, expiresAt: now + this.ttlMs });
    }
    return value;
  }
}

/**
 * Apps' credentials as app authentication reads them (the auth port), from the directory's
 * tables. Every app call needs them, so they are remembered for CUSTOS_AUTH_CACHE_MS, as
 * checked API tokens are: a change made through this process (uninstall, import, rotation)
 * counts from the next request; one made by another process (the CLI, another server)
 * within that time (docs/wire-contracts.md#app-authentication).
 */
export class AppCredentialStore implements AppCredentials {
  /**
   * Decrypted shared secrets by their stored ciphertext: decrypting costs more than the HMAC
   * it serves. A rotated secret has a new ciphertext, hence a new entry. Bounded.
   */
  private readonly secretCache = new Map<string, string>();
  private readonly installations: CredentialCache<InstallationCredential>;
  private readonly clients: CredentialCache<OAuthClientCredential>;
  private readonly installedSites: CredentialCache<readonly string[]>;

  constructor(
    private readonly database: Database,
    private readonly secrets: SecretBox,
    cacheMs: number,
  ) {
    this.installations = new CredentialCache(cacheMs);
    this.clients = new CredentialCache(cacheMs);
    this.installedSites = new CredentialCache(cacheMs);
  }

  findInstallation(clientKey: string): Promise<InstallationCredential | undefined> {
    return this.installations.get(clientKey, async () => {
      const row = await apps.findInstallationByClientKey(this.database.db, clientKey);
      if (!row) return undefined;
      return {
        id: row.id,
        appKey: row.app_key,
        clientKey: row.client_key,
        siteId: row.site_id,
        uninstalled: row.uninstalled_at !== null,
        sharedSecret: this.sharedSecretOf(row),
      };
    });
  }

  findOAuthClient(clientId: string): Promise<OAuthClientCredential | undefined> {
    return this.clients.get(clientId, async () => {
      const row = await apps.findOAuthClient(this.database.db, clientId);
      if (!row) return undefined;
      return {
        clientId: row.client_id,
        appKey: row.app_key,
        secretHash: row.secret_hash,
        scopes: JSON.parse(row.scopes) as string[],
      };
    });
  }

  async listInstalledSiteIds(appKey: string): Promise<readonly string[]> {
    return (
      (await this.installedSites.get(appKey, () => apps.findInstalledSiteIds(this.database.db, appKey))) ?? []
    );
  }

  private sharedSecretOf(installation: { id: string; shared_secret_enc: string }): string {
    let secret = this.secretCache.get(installation.shared_secret_enc);
    if (secret === undefined) {
      secret = this.secrets.decrypt(
        installation.shared_secret_enc,
        secretContext.installation(installation.id),
      );
      if (this.secretCache.size >= CACHE_MAX) this.secretCache.clear();
      this.secretCache.set(installation.shared_secret_enc, secret);
    }
    return secret;
  }
}
