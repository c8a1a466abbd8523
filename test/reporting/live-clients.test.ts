import type { ChildProcess } from 'node:child_process';
import { createReportPersonalData } from '@forge/api/out/privacy/index.js';
import { createQueryStringHash, encodeSymmetric, fromMethodAndUrl } from 'atlassian-jwt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import {
  ACTIVE_ID,
  ADA,
  CLOSED_ID,
  exampleDirectory,
  GINA,
  importExample,
  SECRETS,
} from '../helpers/directory.js';
import { exited, runCustos, startServe } from '../helpers/process.js';
import { LONG_AGO } from '../helpers/reporting.js';
import { until } from '../helpers/wait.js';
import { startReceiver } from '../helpers/webhook-receiver.js';

/**
 * The official clients against a live `custos serve`: the `@forge/api` privacy helper
 * (90-account chunks sent concurrently) and a Connect app signing with `atlassian-jwt`.
 */
const SECRET = `whsec_${Buffer.from('live-clients-secret-of-32-bytes!').toString('base64')}`;
const EXTRA = Array.from({ length: 230 }, (_, i) => `live-${String(i).padStart(4, '0')}`);

let t: TestApp;
let env: Record<string, string>;
let serve: { child: ChildProcess; url: string };
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let hangFirst = false;

beforeAll(async () => {
  receiver = await startReceiver(SECRET, (n) => (hangFirst && n === 1 ? 'hang' : { status: 204 }));
  // Seeds the database in-process (no worker), then serves it from a separate process.
  t = await createTestApp({ CUSTOS_IN_PROCESS_WORKER: 'false', CUSTOS_ALLOW_PRIVATE_WEBHOOKS: 'true' });
  const file = exampleDirectory();
  file.accounts?.push(...EXTRA.map((accountId) => ({ accountId, accountType: 'atlassian' as const })));
  const acme = file.sites?.find((s) => s.id === 'acme-prod');
  acme?.members?.push(...EXTRA);
  const timesheets = file.apps?.find((a) => a.key === 'com.vendor.timesheets');
  if (timesheets) timesheets.webhook = { url: receiver.url, secret: SECRET };
  await importExample(t, file);
  // The lifecycle notices of the import are not this suite's subject.
  await t.ctx.database.db.updateTable('webhook_messages').set({ status: 'delivered' }).execute();
  env = {
    DATABASE_URL: t.database.url,
    CUSTOS_SECRET_KEY: t.ctx.config.secretKey as string,
    CUSTOS_ALLOW_PRIVATE_WEBHOOKS: 'true',
    CUSTOS_WORKER_POLL_MS: '20',
    CUSTOS_WEBHOOK_TIMEOUT_MS: '1000',
  };
  serve = await startServe(env);
}, 60_000);
afterAll(async () => {
  serve.child.kill('SIGKILL');
  await exited(serve.child);
  await t.close();
  await receiver.close();
});

async function bearer(): Promise<string> {
  const res = await fetch(`${serve.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      grant_type: 'client_credentials',
      client_id: 'timesheets',
      client_secret: SECRETS.timesheetsClient,
    }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

const reported = () => [
  ...EXTRA.map((accountId) => ({ accountId, updatedAt: new Date().toISOString() })),
  { accountId: ADA, updatedAt: LONG_AGO },
  { accountId: ACTIVE_ID, updatedAt: new Date().toISOString() },
  { accountId: CLOSED_ID, updatedAt: new Date().toISOString() },
  { accountId: GINA, updatedAt: LONG_AGO },
];

describe('official clients against a live Custos', () => {
  it('closing an account with `custos account close` pushes a signed webhook at once', async () => {
    const closed = await runCustos(['account', 'close', CLOSED_ID], env);
    expect(closed.code).toBe(0);
    await until(() =>
      [...receiver.unique.values()].some((r) => (r.body as { type: string }).type === 'account.closed'),
    );
    const [event] = [...receiver.unique.values()].map((r) => r.body as { type: string; data: unknown });
    expect(event).toMatchObject({
      type: 'account.closed',
      data: { accountId: CLOSED_ID, siteIds: ['acme-prod'] },
    });
  });

  it('the @forge/api helper reports 234 accounts in concurrent chunks and gets closed and updated', async () => {
    const token = await bearer();
    const requestAtlassian = (path: string, init?: RequestInit) =>
      fetch(`${serve.url}${path}`, {
        ...init,
        headers: { ...(init?.headers as Record<string, string>), authorization: `Bearer ${token}` },
      }) as never;
    const report = createReportPersonalData(requestAtlassian);
    const updates = await report(reported());
    // Gina is a member of globex-prod only: through acme and globex alike, an OAuth token sees both sites.
    expect(updates).toEqual([
      { accountId: ADA, status: 'updated' },
      { accountId: CLOSED_ID, status: 'closed' },
      { accountId: GINA, status: 'updated' },
    ]);
  });

  it('a Connect app signing with atlassian-jwt gets the same answers for its installation site', async () => {
    const path = '/rest/atlassian-connect/latest/report-accounts';
    const all = reported();
    const chunks = Array.from({ length: Math.ceil(all.length / 90) }, (_, i) =>
      all.slice(i * 90, i * 90 + 90),
    );
    const answers = await Promise.all(
      chunks.map(async (chunk) => {
        const now = Math.floor(Date.now() / 1000);
        const qsh = createQueryStringHash(fromMethodAndUrl('POST', path));
        const jwt = encodeSymmetric({ iss: 'ts-acme-1', iat: now, exp: now + 180, qsh }, SECRETS.tsAcme);
        const res = await fetch(`${serve.url}${path}`, {
          method: 'POST',
          headers: { authorization: `JWT ${jwt}`, 'content-type': 'application/json' },
          body: JSON.stringify({ accounts: chunk }),
        });
        expect(res.headers.get('cycle-period')).toBe('15');
        return res.status === 204 ? [] : ((await res.json()) as { accounts: unknown[] }).accounts;
      }),
    );
    // The acme installation cannot see Gina (globex only): no status for her.
    expect(answers.flat()).toEqual([
      { accountId: ADA, status: 'updated' },
      { accountId: CLOSED_ID, status: 'closed' },
    ]);
  });

  it('killing the server mid-delivery loses nothing: the message is delivered after a restart', async () => {
    hangFirst = true;
    receiver.arrivals.length = 0;
    const before = receiver.unique.size;
    expect((await runCustos(['account', 'close', ACTIVE_ID], env)).code).toBe(0);
    await until(() => receiver.arrivals.length === 1);
    serve.child.kill('SIGKILL');
    await exited(serve.child);
    serve = await startServe(env);
    // The dead worker's lease runs out (timeout + 30 s), then the message is delivered.
    await until(() => receiver.unique.size === before + 1, {
      timeoutMs: 50_000,
      message: 'the message to be delivered by the restarted server',
    });
    const [last] = [...receiver.unique.values()].slice(-1);
    expect(last?.body).toMatchObject({ type: 'account.closed', data: { accountId: ACTIVE_ID } });
    expect(receiver.arrivals.filter((a) => a.id === last?.id).length).toBe(2);
  }, 70_000);
});
