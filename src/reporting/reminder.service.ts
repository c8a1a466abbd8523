import { randomUUID } from 'node:crypto';
import { type Database, isUniqueViolation } from '../db/dialect.js';
import { enqueueWebhooks, type WebhookEndpoints } from '../webhooks/webhook-dispatcher.js';
import * as repo from './compliance.repository.js';
import type { AppCompliance, ComplianceService } from './compliance.service.js';

export const OVERDUE_EVENT = 'reporting.overdue';

const DAY_MS = 86_400_000;

/**
 * Reminds apps that are late with their reports (a held account not reported again within
 * the cycle) with a signed `reporting.overdue` webhook through the outbox: counts and times,
 * never an account id. At most one per app and reporting cycle, whichever worker sends it;
 * cycles are whole `cycleDays` counted from the Unix epoch, so every process agrees on them.
 * Apps without a working endpoint see the same state in the compliance views.
 */
export class ReportingReminders {
  constructor(
    private readonly database: Database,
    private readonly compliance: ComplianceService,
    private readonly endpoints: WebhookEndpoints,
    private readonly cycleDays: number,
  ) {}

  /** Sends the reminders due in the cycle that contains `now`; returns how many it sent. */
  async remindOverdueApps(now = new Date()): Promise<number> {
    const cycleMs = this.cycleDays * DAY_MS;
    const cycleStart = new Date(Math.floor(now.getTime() / cycleMs) * cycleMs).toISOString();
    let sent = 0;
    for (const app of await this.compliance.listApps(now)) {
      if (app.state !== 'overdue') continue;
      if (await repo.findReminder(this.database.db, app.appKey, cycleStart)) continue;
      const endpoint = await this.endpoints.find(app.appKey);
      if (!endpoint || endpoint.disabled) continue;
      if (await this.send(app, cycleStart, now)) sent += 1;
    }
    return sent;
  }

  private async send(app: AppCompliance, cycleStart: string, now: Date): Promise<boolean> {
    const at = now.toISOString();
    try {
      await this.database.writeTransaction(async (trx) => {
        const [messageId] = await enqueueWebhooks(
          trx,
          [
            {
              appKey: app.appKey,
              eventType: OVERDUE_EVENT,
              payload: {
                id: `evt_${randomUUID().replaceAll('-', '')}`,
                type: OVERDUE_EVENT,
                timestamp: at,
                data: {
                  appKey: app.appKey,
                  overdueAccounts: app.overdueAccounts,
                  heldAccounts: app.heldAccounts,
                  lastReportedAt: app.lastReportedAt,
                  cycleDays: this.cycleDays,
                },
              },
            },
          ],
          now,
        );
        await repo.insertReminder(trx, {
          app_key: app.appKey,
          cycle_start: cycleStart,
          overdue_accounts: app.overdueAccounts,
          message_id: messageId as string,
          sent_at: at,
        });
      });
      return true;
    } catch (error) {
      // Another worker reminded this app in this cycle first: this transaction, webhook
      // included, rolled back.
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }
}
