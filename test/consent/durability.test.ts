import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countPendingRequests } from '../../src/consent/consent.repository.js';
import { type Database, openDatabase } from '../../src/db/dialect.js';
import { GMOI_TEXT } from '../helpers/app.js';
import type { TestDatabase } from '../helpers/database.js';
import { databaseForProcesses, exited, runCustos, startServe } from '../helpers/process.js';
import { until } from '../helpers/wait.js';

let database: TestDatabase;
let env: Record<string, string>;
let authorization: string;
let db: Database;

beforeAll(async () => {
  ({ database, env } = await databaseForProcesses());
  const created = await runCustos(
    ['token', 'create', '--email', 'crm@example.com', '--scope', 'manage:consent-hub-consent'],
    env,
  );
  expect(created.code).toBe(0);
  const token = created.stdout.trimEnd().split('\n').pop();
  authorization = `Basic ${Buffer.from(`crm@example.com:${token}`).toString('base64')}`;
  db = openDatabase(database.url);
});
afterAll(async () => {
  await db.close();
  await database.drop();
});

/** Sends consent POSTs from `concurrency` loops until stopped; collects the ids answered 202. */
function load(url: string, prefix: string, concurrency: number) {
  const accepted = new Set<string>();
  let next = 0;
  let running = true;
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      const id = `${prefix}-${next++}`;
      try {
        const res = await fetch(`${url}/consent-hub/consent`, {
          method: 'POST',
          headers: { authorization, 'content-type': 'application/json' },
          body: JSON.stringify({
            email: `person${next % 37}@example.com`,
            locale: 'DE',
            providerId: id,
            consents: [{ key: 'generalMarketingOptIn', granted: next % 3 !== 0, displayedText: GMOI_TEXT }],
          }),
        });
        await res.arrayBuffer();
        if (res.status === 202) accepted.add(id);
      } catch {
        // Connection refused or reset: the server is gone. This request was never accepted.
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  });
  return {
    accepted,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

const untilAccepted = (accepted: Set<string>, count: number) =>
  until(() => accepted.size >= count, { timeoutMs: 20_000, message: `${count} requests answered 202` });

const untilApplied = () =>
  until(async () => (await countPendingRequests(db.db)) === 0, {
    timeoutMs: 20_000,
    message: 'every accepted request to be applied',
  });

/** provider id → number of consent events recorded for it. */
async function eventCounts(prefix: string): Promise<Map<string, number>> {
  const rows = await db.db
    .selectFrom('consent_events')
    .select(['provider_id'])
    .where('provider_id', 'like', `${prefix}-%`)
    .execute();
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.provider_id as string, (counts.get(r.provider_id as string) ?? 0) + 1);
  return counts;
}

function expectExactlyOnce(accepted: Set<string>, counts: Map<string, number>) {
  const lost = [...accepted].filter((id) => counts.get(id) !== 1);
  expect(lost, 'accepted (202) but not applied exactly once').toEqual([]);
  const duplicated = [...counts].filter(([, n]) => n > 1);
  expect(duplicated, 'applied more than once').toEqual([]);
}

describe('durability of accepted consent', () => {
  it('a server killed with SIGKILL under concurrent load loses no 202 and applies none twice', async () => {
    let server: { child: ChildProcess; url: string } | undefined = await startServe(env);
    const traffic = load(server.url, 'crash', 24);
    try {
      await untilAccepted(traffic.accepted, 400);
    } finally {
      server.child.kill('SIGKILL');
      await exited(server.child);
      await traffic.stop();
    }

    server = await startServe(env);
    try {
      await untilApplied();
      expectExactlyOnce(traffic.accepted, await eventCounts('crash'));
    } finally {
      server.child.kill('SIGTERM');
      await exited(server.child);
    }
  });

  it('a graceful stop (SIGTERM) finishes in-flight requests and applies everything accepted before exiting', async () => {
    const server = await startServe(env);
    const traffic = load(server.url, 'graceful', 24);
    let code: number | null;
    try {
      await untilAccepted(traffic.accepted, 200);
    } finally {
      server.child.kill('SIGTERM');
      code = await exited(server.child);
      await traffic.stop();
    }
    expect(code).toBe(0);
    // Nothing restarted: the stopping server itself must have applied every accepted request.
    expect(await countPendingRequests(db.db)).toBe(0);
    expectExactlyOnce(traffic.accepted, await eventCounts('graceful'));
  });
});
