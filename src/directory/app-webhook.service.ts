import { randomBytes } from 'node:crypto';
import type { AuditActor, AuditLog } from '../audit/audit.service.js';
import type { SecretBox } from '../crypto/secret-box.js';
import type { Database } from '../db/dialect.js';
import { AppError } from '../errors/app-error.js';
import * as apps from './app.repository.js';
import { secretContext } from './secrets.js';

/**
 * The operator's actions on an app's webhook endpoint (admin API, CLI, later the console),
 * each committed with its audit entry: rotating its signing secret and turning it back on
 * after it answered 410 Gone.
 */
export class AppWebhookService {
  constructor(
    private readonly database: Database,
    private readonly secrets: SecretBox,
    private readonly audit: AuditLog,
    /** How long the previous secret keeps signing after a rotation. */
    private readonly secretGraceMs: number,
  ) {}

  /**
   * Replaces an app's webhook signing secret. The previous one keeps signing beside it for
   * the grace period (Standard Webhooks: `webhook-signature` carries one signature per
   * secret), so the vendor can switch its verifier without losing a delivery. Returns the
   * new secret, shown once.
   */
  async rotateSecret(
    appKey: string,
    actor: AuditActor,
  ): Promise<{ secret: string; previousValidUntil: string }> {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const now = Date.now();
    const previousValidUntil = new Date(now + this.secretGraceMs).toISOString();
    await this.database.writeTransaction(async (trx) => {
      const app = await apps.findApp(trx, appKey);
      if (!app) throw new AppError('NOT_FOUND', 'No such app', { field: 'key' });
      if (!app.webhook_url || !app.webhook_secret_enc)
        throw new AppError('CONFLICT', 'The app has no webhook endpoint', { field: 'key' });
      await apps.updateApp(trx, appKey, {
        webhook_secret_enc: this.secrets.encrypt(secret, secretContext.webhook(appKey)),
        webhook_secret_shown_at: new Date(now).toISOString(),
        webhook_previous_secret_enc: app.webhook_secret_enc,
        webhook_previous_secret_until: previousValidUntil,
        updated_at: new Date(now).toISOString(),
      });
      await this.audit.appendWithin(trx, [{ actor, action: 'app.webhook-secret-rotated', appKey }]);
    });
    return { secret, previousValidUntil };
  }

  /**
   * Turns an endpoint that answered 410 Gone back on. Its dead messages stay dead until they
   * are redelivered. Enabling an endpoint that is on changes nothing and records nothing.
   */
  async enable(appKey: string, actor: AuditActor): Promise<{ key: string; wasDisabled: boolean }> {
    const wasDisabled = await this.database.writeTransaction(async (trx) => {
      const app = await apps.findApp(trx, appKey);
      if (!app) throw new AppError('NOT_FOUND', 'No such app', { field: 'key' });
      if (!app.webhook_url)
        throw new AppError('CONFLICT', 'The app has no webhook endpoint', { field: 'key' });
      if (app.webhook_disabled_at === null) return false;
      await apps.updateApp(trx, appKey, { webhook_disabled_at: null, webhook_disabled_reason: null });
      await this.audit.appendWithin(trx, [
        {
          actor,
          action: 'admin.webhook-enabled',
          appKey,
          details: { disabledReason: app.webhook_disabled_reason },
        },
      ]);
      return true;
    });
    return { key: appKey, wasDisabled };
  }
}
