import { insertAuditEvents } from '../src/audit/audit.repository.js';
import { canonicalJson, GENESIS_HASH, hashOf } from '../src/audit/audit.service.js';
import { type Database, openDatabase } from '../src/db/dialect.js';
import { foldName } from '../src/directory/account.model.js';
import { SessionService } from '../src/sessions/session.service.js';
import { sessionCookie } from '../src/sessions/session-cookie.js';
import type { BenchEnv } from './scenario.js';

/**
 * The console's pages over a large store: 100,000 accounts and 1,000,000 audit entries
 * (BENCH_CONSOLE_ACCOUNTS, BENCH_CONSOLE_AUDIT for smaller runs), bulk-inserted straight into
 * the database rather than through the API, which would take hours. Each page is fetched
 * one request at a time, as a person clicks, by a signed-in privacy officer. Target: every
 * page p95 < 200 ms.
 */
const ACCOUNTS = Number(process.env.BENCH_CONSOLE_ACCOUNTS ?? 100_000);
const AUDIT_ENTRIES = Number(process.env.BENCH_CONSOLE_AUDIT ?? 1_000_000);
const APPS = 20;
const SAMPLES = Number(process.env.BENCH_CONSOLE_SAMPLES ?? 30);
const OFFICER = 'bench-officer';
const accountId = (i: number) => `console-${String(i).padStart(7, '0')}`;
const appKey = (i: number) => `com.bench.console-${i}`;

async function insertBatched<T>(
  database: Database,
  rows: (i: number) => T,
  total: number,
  batch: number,
  insert: (db: Database['db'], values: T[]) => Promise<unknown>,
) {
  for (let start = 0; start < total; start += batch) {
    const values = Array.from({ length: Math.min(batch, total - start) }, (_, k) => rows(start + k));
    await database.writeTransaction((trx) => insert(trx, values));
  }
}

async function seed(database: Database, now: Date): Promise<void> {
  const iso = now.toISOString();
  const old = new Date(now.getTime() - 60 * 86_400_000).toISOString();
  await database.db
    .insertInto('organizations')
    .values({ id: 'console-org', name: 'Console Org', created_at: iso, updated_at: iso })
    .execute();
  await database.db
    .insertInto('apps')
    .values(
      Array.from({ length: APPS }, (_, i) => ({
        key: appKey(i),
        name: `Console App ${i}`,
        vendor: 'Bench Ltd',
        privacy_policy_url: 'https://bench.test/privacy',
        terms_url: 'https://bench.test/terms',
        stores_personal_data: 1,
        webhook_url: 'https://bench.test/hooks',
        webhook_secret_enc: null,
        webhook_secret_shown_at: iso,
        webhook_disabled_at: null,
        webhook_disabled_reason: null,
        created_at: iso,
        updated_at: iso,
        last_reported_at: i % 3 === 0 ? null : old,
        webhook_previous_secret_enc: null,
        webhook_previous_secret_until: null,
      })),
    )
    .execute();

  await insertBatched(
    database,
    (i) => ({
      account_id: i === ACCOUNTS ? OFFICER : accountId(i),
      account_type: 'atlassian',
      status: 'active',
      organization_id: 'console-org',
      email: `person${i}@console.test`,
      name: `Person ${i}`,
      nickname: `person${i}`,
      nickname_folded: foldName(`person${i}`),
      avatar_url: null,
      job_title: 'Analyst',
      department: null,
      location: null,
      time_zone: 'Europe/Paris',
      locale: 'fr-FR',
      visibility: '{}',
      created_at: iso,
      updated_at: iso,
      pd_updated_at: iso,
      closed_at: null,
    }),
    ACCOUNTS + 1,
    500,
    (db, values) => db.insertInto('accounts').values(values).execute(),
  );
  await database.db
    .insertInto('operator_roles')
    .values({ account_id: OFFICER, role: 'privacy-officer', granted_at: iso, granted_by: 'operator:bench' })
    .execute();

  // Every account is held by the first app, reported long ago: its overdue list is 100,000 long.
  await insertBatched(
    database,
    (i) => ({
      app_key: appKey(0),
      account_id: accountId(i),
      retrieved_at: old,
      reported_at: old,
      first_reported_at: old,
    }),
    ACCOUNTS,
    1000,
    (db, values) => db.insertInto('holdings').values(values).execute(),
  );

  await insertBatched(
    database,
    (i) => ({
      id: `ear_bench_${i}`,
      app_key: appKey(i % APPS),
      status: i < 30 ? ('in-review' as const) : i % 2 === 0 ? ('approved' as const) : ('rejected' as const),
      company_name: 'Bench Ltd',
      app_name: `Console App ${i % APPS}`,
      listing_url: null,
      privacy_policy_url: 'https://bench.test/privacy',
      terms_url: 'https://bench.test/terms',
      stores_personal_data: 1,
      use_cases: JSON.stringify(['other']),
      description: 'Sends the alerts people asked for.',
      privacy_policy_excerpt: 'We use email addresses only for alerts.',
      reporting_check: 'pending' as const,
      reason: 'Use cases reviewed by a person: other',
      submitted_by: 'app:bench',
      submitted_at: new Date(now.getTime() - (1000 - i) * 3_600_000).toISOString(),
      decided_by: i < 30 ? null : 'operator:bench',
      decided_at: i < 30 ? null : iso,
      revoked_by: null,
      revoked_at: null,
      updated_at: iso,
    }),
    1000,
    200,
    (db, values) => db.insertInto('access_requests').values(values).execute(),
  );

  await insertBatched(
    database,
    (i) => ({
      id: `msg_bench_${i}`,
      app_key: appKey(i % APPS),
      event_type: 'account.closed',
      ordering_key: null,
      payload: '{}',
      status: 'dead' as const,
      attempts: 12,
      next_attempt_at: iso,
      lease_until: null,
      created_at: iso,
      last_attempt_at: iso,
      last_status: 503,
      last_error: 'HTTP 503',
      delivered_at: null,
    }),
    5000,
    500,
    (db, values) => db.insertInto('webhook_messages').values(values).execute(),
  );

  // The audit log as a real chain (each row hashes its predecessor), its times spread over
  // a year: mostly disclosures, some of every other kind, a rare one for the action filter.
  const start = now.getTime() - 365 * 86_400_000;
  const step = (365 * 86_400_000) / AUDIT_ENTRIES;
  let prev = GENESIS_HASH;
  await insertBatched(
    database,
    (i) => {
      const kind = i % 100;
      const action =
        i === Math.floor(AUDIT_ENTRIES / 2)
          ? 'admin.token-created'
          : kind < 70
            ? 'email.disclosed'
            : kind < 90
              ? 'consent.changed'
              : 'admin.account-viewed';
      const row = {
        at: new Date(start + i * step).toISOString(),
        actor_type: kind < 70 ? 'app' : 'operator',
        actor_id: kind < 70 ? appKey(i % APPS) : 'bench',
        action,
        app_key: kind < 70 ? appKey(i % APPS) : null,
        installation_id: null,
        account_id: accountId(i % ACCOUNTS),
        details: canonicalJson(kind < 70 ? { site: 'bench' } : {}),
        prev_hash: prev,
      };
      prev = hashOf(row);
      return { ...row, hash: prev };
    },
    AUDIT_ENTRIES,
    1000,
    // Through the repository, which stores the hashes as bytes.
    insertAuditEvents,
  );
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

export async function measureConsolePages(env: BenchEnv): Promise<string> {
  const database = openDatabase(env.databaseUrl);
  const now = new Date();
  const seeding = performance.now();
  await seed(database, now);
  // The session is made the way sign-in makes one.
  const sessions = new SessionService(database, { idleMs: 3_600_000, absoluteMs: 86_400_000 });
  const { token } = await sessions.create(OFFICER, { userAgent: 'bench' });
  await database.close();
  const seededIn = ((performance.now() - seeding) / 1000).toFixed(0);

  const mid = Math.floor(AUDIT_ENTRIES / 2);
  const yesterday = new Date(now.getTime() - 86_400_000).toISOString().slice(0, 16);
  const pages = [
    '/console',
    '/console/access',
    '/console/apps',
    `/console/apps/${appKey(0)}`,
    `/console/apps/${appKey(0)}?after=${accountId(Math.floor(ACCOUNTS / 2))}`,
    `/console/accounts/${accountId(Math.floor(ACCOUNTS / 2))}`,
    '/console/audit',
    `/console/audit?before=${mid}`,
    '/console/audit?action=admin.token-created',
    `/console/audit?account=${accountId(12_345 % ACCOUNTS)}`,
    `/console/audit?app=${appKey(7)}`,
    `/console/audit?from=${yesterday}`,
    '/console/clients',
    '/console/notices',
  ];
  // The bench serves plain http without CUSTOS_PUBLIC_URL: the cookie has no __Host- prefix.
  const headers = { cookie: `${sessionCookie(undefined).name}=${token}`, accept: 'text/html' };
  const lines = [
    `Console pages, one request at a time (${ACCOUNTS} accounts, ${AUDIT_ENTRIES} audit entries; seeded in ${seededIn} s), ${SAMPLES} samples each, target p95 < 200 ms:`,
  ];
  for (const path of pages) {
    const times: number[] = [];
    let failures = 0;
    for (let i = 0; i < SAMPLES + 3; i++) {
      const started = performance.now();
      const res = await fetch(`${env.baseUrl}${path}`, { headers, redirect: 'manual' });
      await res.arrayBuffer();
      if (res.status !== 200) failures += 1;
      if (i >= 3) times.push(performance.now() - started); // the first three warm the caches
    }
    times.sort((a, b) => a - b);
    const p95 = percentile(times, 95);
    const verdict = failures > 0 ? `FAIL (${failures} not 200)` : p95 < 200 ? 'ok' : 'MISS';
    lines.push(
      `  ${path.padEnd(64)} p50 ${percentile(times, 50).toFixed(1).padStart(6)} ms  p95 ${p95.toFixed(1).padStart(6)} ms  ${verdict}`,
    );
  }
  return lines.join('\n');
}
