import type {
  AppCredentials,
  InstallationCredential,
  OAuthClientCredential,
} from '../auth/app-credentials.port.js';
import type { SecretBox } from '../crypto/secret-box.js';
import type { Database } from '../db/dialect.js';
import * as apps from './app.repository.js';
import { secretContext } from './secrets.js';

const SECRET_CACHE_MAX = 10_000;

/** Apps' credentials as app authentication reads them (the auth port), from the directory's tables. */
export class AppCredentialStore implements AppCredentials {
  /**
   * Decrypted shared secrets by their stored ciphertext: decrypting costs more than the HMAC
   * it serves. The installation row is still read on every request; a rotated secret has a
   * new ciphertext, hence a new entry. Bounded.
   */
  private readonly secretCache = new Map<string, string>();

  constructor(
    private readonly database: Database,
    private readonly secrets: SecretBox,
  ) {}

  async findInstallation(clientKey: string): Promise<InstallationCredential | undefined> {
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
  }

  async findOAuthClient(clientId: string): Promise<OAuthClientCredential | undefined> {
    const row = await apps.findOAuthClient(this.database.db, clientId);
    if (!row) return undefined;
    return {
      clientId: row.client_id,
      appKey: row.app_key,
      secretHash: row.secret_hash,
      scopes: JSON.parse(row.scopes) as string[],
    };
  }

  listInstalledSiteIds(appKey: string): Promise<string[]> {
    return apps.findInstalledSiteIds(this.database.db, appKey);
  }

  private sharedSecretOf(installation: { id: string; shared_secret_enc: string }): string {
    let secret = this.secretCache.get(installation.shared_secret_enc);
    if (secret === undefined) {
      secret = this.secrets.decrypt(
        installation.shared_secret_enc,
        secretContext.installation(installation.id),
      );
      if (this.secretCache.size >= SECRET_CACHE_MAX) this.secretCache.clear();
      this.secretCache.set(installation.shared_secret_enc, secret);
    }
    return secret;
  }
}
