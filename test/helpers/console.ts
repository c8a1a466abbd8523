import type { OperatorRole } from '../../src/auth/permissions.js';
import type { ImportFile } from '../../src/directory/import.schemas.js';
import { accessRequest } from './access.js';
import type { TestApp } from './app.js';
import { exampleDirectory, OPERATOR } from './directory.js';

/** One person per console role, and one signed-in person with none. */
export const OPERATOR_IDS: Record<OperatorRole, string> = {
  reviewer: 'op-reviewer',
  'privacy-officer': 'op-privacy-officer',
  auditor: 'op-auditor',
  owner: 'op-owner',
};
export const NO_ROLE_ID = 'op-nobody';

/** The example directory plus the operator team's own accounts. */
export function consoleDirectory(file: ImportFile = exampleDirectory()): ImportFile {
  const team = [...Object.values(OPERATOR_IDS), NO_ROLE_ID].map((accountId) => ({
    accountId,
    accountType: 'atlassian' as const,
    organization: 'acme',
    email: `${accountId}@operator.test`,
    nickname: accountId,
  }));
  return { ...file, accounts: [...(file.accounts ?? []), ...team] };
}

/** Gives each role to its person, as `custos operator grant` does. */
export async function grantConsoleRoles(t: TestApp): Promise<void> {
  for (const [role, accountId] of Object.entries(OPERATOR_IDS))
    await t.ctx.operators.grant(accountId, role, OPERATOR);
}

/** Files a request that a person must review (the catalogue's `other` use case); returns its id. */
export async function requestInReview(t: TestApp, appKey: string, appName = 'Mailer'): Promise<string> {
  const { id, status } = await t.ctx.access.submit(
    accessRequest(appKey, { useCases: ['other'], appName }),
    OPERATOR,
  );
  if (status !== 'in-review') throw new Error(`expected in-review, got ${status}`);
  return id;
}

/** A webhook message that ran out of attempts, as the delivery loop leaves one. */
export async function insertDeadLetter(t: TestApp, appKey: string, id: string): Promise<void> {
  const at = new Date().toISOString();
  await t.ctx.database.db
    .insertInto('webhook_messages')
    .values({
      id,
      app_key: appKey,
      event_type: 'account.updated',
      ordering_key: null,
      payload: JSON.stringify({ type: 'account.updated', timestamp: at, data: { accountId: 'x' } }),
      status: 'dead',
      attempts: 12,
      next_attempt_at: at,
      lease_until: null,
      created_at: at,
      last_attempt_at: at,
      last_status: 503,
      last_error: 'HTTP 503',
      delivered_at: null,
    })
    .execute();
}
