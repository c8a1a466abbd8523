import type { ImportFile } from '../../src/directory/import.schemas.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { exampleDirectory, importExample, oauthToken, SECRETS } from '../helpers/directory.js';
import { Mailbox } from '../helpers/mailbox.js';

export const PUBLIC_URL = 'https://custos.example.org';
export const PEOPLE = 100;
export const personId = (i: number) => `relay-${String(i).padStart(3, '0')}`;
export const personEmail = (i: number) => `person${String(i).padStart(3, '0')}@acme.test`;

/**
 * The example directory plus 100 people on acme-prod; Timesheets (on both sites) may send
 * notifications over OAuth, and every Connect installation holds every app scope.
 */
export function relayDirectory(): ImportFile {
  const file = exampleDirectory();
  const accounts = file.accounts ?? [];
  for (let i = 0; i < PEOPLE; i++) {
    accounts.push({
      accountId: personId(i),
      accountType: 'atlassian',
      organization: 'acme',
      email: personEmail(i),
      nickname: `person${i}`,
      visibility: { email: 'private' },
    });
  }
  const acme = file.sites?.find((s) => s.id === 'acme-prod');
  acme?.members?.push(...Array.from({ length: PEOPLE }, (_, i) => personId(i)));
  const timesheets = file.apps?.find((a) => a.key === 'com.vendor.timesheets');
  if (timesheets?.oauth) timesheets.oauth.scopes = ['report:personal-data', 'read:user', 'send:notification'];
  return file;
}

export interface RelayFixture {
  t: TestApp;
  box: Mailbox;
  /** Timesheets' OAuth token (send:notification). */
  token: string;
  close(): Promise<void>;
}

export async function relayFixture(env: Record<string, string> = {}): Promise<RelayFixture> {
  const box = await Mailbox.start();
  const t = await createTestApp({ CUSTOS_SMTP_URL: box.url, CUSTOS_PUBLIC_URL: PUBLIC_URL, ...env });
  await importExample(t, relayDirectory());
  const token = await oauthToken(t, 'timesheets', SECRETS.timesheetsClient);
  return {
    t,
    box,
    token,
    async close() {
      await t.close();
      await box.close();
    },
  };
}

let keys = 0;
export function notification(accountIds: string[], overrides: Record<string, unknown> = {}) {
  keys += 1;
  return {
    accountIds,
    subject: 'Your timesheet is due',
    text: 'Please submit your timesheet for this week.\n\nThank you.',
    category: 'reminders',
    idempotencyKey: `key-${keys}-${Date.now()}`,
    ...overrides,
  };
}

export function notify(t: TestApp, token: string, body: unknown) {
  return t.app.inject({
    method: 'POST',
    url: '/app/notifications',
    headers: { authorization: `Bearer ${token}` },
    payload: body as Record<string, unknown>,
  });
}

export function notificationStatus(t: TestApp, token: string, id: string) {
  return t.app.inject({
    method: 'GET',
    url: `/app/notifications/${id}`,
    headers: { authorization: `Bearer ${token}` },
  });
}
