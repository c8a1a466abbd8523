import type { SecretBox } from '../crypto/secret-box.js';
import type { Database } from '../db/dialect.js';
import type { WebhookEndpoint, WebhookEndpoints } from '../webhooks/webhook-dispatcher.js';
import * as apps from './app.repository.js';
import { secretContext } from './secrets.js';

/** Apps' webhook endpoints, as the delivery worker needs them: URL, plaintext secret(s), state. */
export class AppWebhookEndpoints implements WebhookEndpoints {
  constructor(
    private readonly database: Database,
    private readonly secrets: SecretBox,
  ) {}

  async find(appKey: string): Promise<WebhookEndpoint | undefined> {
    const app = await apps.findApp(this.database.db, appKey);
    if (!app?.webhook_url || !app.webhook_secret_enc) return undefined;
    const context = secretContext.webhook(app.key);
    const secrets = [this.secrets.decrypt(app.webhook_secret_enc, context)];
    // During a rotation's grace period the previous secret signs too.
    const until = app.webhook_previous_secret_until;
    if (app.webhook_previous_secret_enc && until && until > new Date().toISOString())
      secrets.push(this.secrets.decrypt(app.webhook_previous_secret_enc, context));
    return {
      url: app.webhook_url,
      secrets,
      disabled: app.webhook_disabled_at !== null,
    };
  }

  async disable(appKey: string, reason: string): Promise<void> {
    await apps.updateApp(this.database.db, appKey, {
      webhook_disabled_at: new Date().toISOString(),
      webhook_disabled_reason: reason,
    });
  }
}
