import { randomBytes } from 'node:crypto';
import type { AuditActor, AuditLog } from '../audit/audit.service.js';
import type { SecretBox } from '../crypto/secret-box.js';
import type { Database } from '../db/dialect.js';
import { AppError } from '../errors/app-error.js';
import * as apps from './app.repository.js';
import { secretContext } from './secrets.js';

/**
 * Replaces an app's webhook signing secret. The previous one keeps signing beside it for
 * `graceMs` (Standard Webhooks: `webhook-signature` carries one signature per secret), so
 * the vendor can switch its verifier without losing a delivery. Returns the new secret,
 * shown once.
 */
export async function rotateWebhookSecret(
  database: Database,
  secrets: SecretBox,
  audit: AuditLog,
  appKey: string,
  graceMs: number,
  actor: AuditActor,
): Promise<{ secret: string; previousValidUntil: string }> {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const now = Date.now();
  const previousValidUntil = new Date(now + graceMs).toISOString();
  await database.writeTransaction(async (trx) => {
    const app = await apps.findApp(trx, appKey);
    if (!app) throw new AppError('NOT_FOUND', 'No such app', { field: 'key' });
    if (!app.webhook_url || !app.webhook_secret_enc)
      throw new AppError('CONFLICT', 'The app has no webhook endpoint', { field: 'key' });
    await apps.updateApp(trx, appKey, {
      webhook_secret_enc: secrets.encrypt(secret, secretContext.webhook(appKey)),
      webhook_secret_shown_at: new Date(now).toISOString(),
      webhook_previous_secret_enc: app.webhook_secret_enc,
      webhook_previous_secret_until: previousValidUntil,
      updated_at: new Date(now).toISOString(),
    });
    await audit.appendWithin(trx, [{ actor, action: 'app.webhook-secret-rotated', appKey }]);
  });
  return { secret, previousValidUntil };
}
