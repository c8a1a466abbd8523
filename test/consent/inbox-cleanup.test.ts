import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { consentJobs } from '../../src/consent/consent.jobs.js';
import type { JobDefinition } from '../../src/jobs/job.model.js';
import { every } from '../../src/jobs/job.model.js';
import { createConsentTestApp, GMOI_TEXT, type TestApp } from '../helpers/app.js';
import { runJob } from '../helpers/jobs.js';

const OLD = '2020-01-01T00:00:00.000Z';
const WEEK_MS = 7 * 86_400_000;

let t: TestApp;
let auth: string;

beforeAll(async () => {
  // No worker: the test decides when requests are applied and when the clean-up runs.
  ({ t, auth } = await createConsentTestApp({ CUSTOS_IN_PROCESS_WORKER: 'false' }));
});
afterEach(async () => {
  await t.ctx.database.db.deleteFrom('consent_requests').execute();
});
afterAll(() => t.close());

function cleanup(limits = { batchSize: 10, maxBatches: 5, pauseMs: 0 }): JobDefinition {
  const [definition] = consentJobs(t.ctx.database, { schedule: every(3_600_000), limits }, WEEK_MS);
  return definition as JobDefinition;
}

async function seed(prefix: string, count: number, appliedAt: string | null) {
  await t.ctx.database.db
    .insertInto('consent_requests')
    .values(
      Array.from({ length: count }, (_, i) => ({
        email: `${prefix}${i}@example.org`,
        locale: 'DE',
        provider_id: `${prefix}-${i}`,
        consents: '[]',
        client_id: 'client',
        remote_addr: '192.0.2.1',
        received_at: appliedAt ?? OLD,
        applied_at: appliedAt,
      })),
    )
    .execute();
}

const providers = async () =>
  (await t.ctx.database.db.selectFrom('consent_requests').select('provider_id').orderBy('seq').execute()).map(
    (r) => r.provider_id,
  );

const post = (email: string, granted: boolean) =>
  t.app.inject({
    method: 'POST',
    url: '/consent-hub/consent',
    headers: { authorization: auth },
    payload: {
      email,
      locale: 'DE',
      consents: [{ key: 'generalMarketingOptIn', granted, displayedText: GMOI_TEXT }],
    },
  });

const choice = async (email: string) =>
  (
    await t.app.inject({
      method: 'POST',
      url: '/consent-hub/consent-config/get',
      headers: { authorization: auth },
      payload: { email },
    })
  ).json();

describe('consent inbox clean-up', () => {
  it('deletes applied rows past the retention in bounded batches, never pending or recent ones', async () => {
    await seed('old-a', 12, OLD);
    await seed('pending', 1, null);
    await seed('old-b', 12, OLD);
    await seed('recent', 3, new Date().toISOString());

    // Batches look at the front of the queue: the pending row ends the first run's work.
    expect(await runJob(cleanup())).toEqual({ deleted: 19, batches: 2, complete: true });
    const left = await providers();
    expect(left.filter((p) => p?.startsWith('old-a'))).toEqual([]);
    expect(left).toContain('pending-0');
    expect(left.filter((p) => p?.startsWith('recent'))).toHaveLength(3);

    // Once the pending row is applied, the rest goes, at most maxBatches × batchSize per run.
    await t.ctx.database.db
      .updateTable('consent_requests')
      .set({ applied_at: OLD })
      .where('provider_id', '=', 'pending-0')
      .execute();
    expect(await runJob(cleanup({ batchSize: 2, maxBatches: 2, pauseMs: 0 }))).toEqual({
      deleted: 4,
      batches: 2,
      complete: false,
    });
    expect(await runJob(cleanup())).toEqual({ deleted: 2, batches: 1, complete: true });
    expect(await providers()).toEqual(['recent-0', 'recent-1', 'recent-2']);
  });

  it('keeps the choice: the consent events are the proof, not the inbox row', async () => {
    const email = 'kept@example.org';
    expect((await post(email, true)).statusCode).toBe(202);
    expect(await runJob(cleanup()), 'a pending request is never deleted').toMatchObject({ deleted: 0 });
    await t.ctx.worker.drain();
    await t.ctx.database.db.updateTable('consent_requests').set({ applied_at: OLD }).execute();
    expect(await runJob(cleanup())).toMatchObject({ deleted: 1 });
    expect(await providers()).toEqual([]);
    expect(await choice(email)).toMatchObject({
      hasUserMadeChoiceOnMarketingCommunicationOptIn: true,
      usersChoiceOnMarketingCommunicationOptIn: true,
    });
    // A later request still wins over the earlier one: sequence numbers are not reused.
    expect((await post(email, false)).statusCode).toBe(202);
    await t.ctx.worker.drain();
    expect(await choice(email)).toMatchObject({ usersChoiceOnMarketingCommunicationOptIn: false });
  });
});
