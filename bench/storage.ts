import BetterSqlite3 from 'better-sqlite3';
import type { BenchEnv } from './scenario.js';
import { consentAuthorization, GMOI_TEXT } from './scenarios/consent.js';

/** What one stored consent writes: the proof (inbox row, event, audit entry) and the receipt. */
const PROOF_TABLES = ['consent_requests', 'consent_events', 'audit_events'] as const;
const RECEIPT_TABLE = 'consent_receipts';
const TARGET_BYTES = 600;
const CONSENTS = Number(process.env.BENCH_STORAGE_CONSENTS ?? 2000);
const PARALLEL = 16;

/**
 * Bytes on disk per table of a SQLite database, each table with its indexes, from the
 * `dbstat` virtual table (whole pages, their unused space included): what the table costs
 * the file, not only its payload.
 */
export function tableBytes(path: string): Map<string, number> {
  const db = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare(
        `SELECT s.tbl_name AS tbl, sum(d.pgsize) AS bytes
           FROM dbstat d JOIN sqlite_schema s ON s.name = d.name
          GROUP BY s.tbl_name`,
      )
      .all() as { tbl: string; bytes: number }[];
    return new Map(rows.map((r) => [r.tbl, r.bytes]));
  } finally {
    db.close();
  }
}

function scalar(path: string, sql: string): number {
  const db = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
  try {
    return Number(db.prepare(sql).pluck().get());
  } finally {
    db.close();
  }
}

/**
 * Stores `CONSENTS` consents through the ConsentHub API (a different person each, granting
 * with the API reference's example text, trailing newline included), waits until the worker
 * has applied them all, and prints what they added to each table, per stored consent. Only
 * on SQLite (`dbstat`); the growth is measured, so what earlier scenarios stored does not count.
 */
export async function measureStorage(env: BenchEnv): Promise<string> {
  if (!env.databaseUrl.startsWith('sqlite:'))
    return 'bytes per stored consent: measured on SQLite only (dbstat)';
  const path = env.databaseUrl.slice('sqlite:'.length);
  const auth = await consentAuthorization(env.cli);
  const pending = () => scalar(path, 'SELECT count(*) FROM consent_requests WHERE applied_at IS NULL');
  const until = async (done: () => boolean) => {
    const started = Date.now();
    while (!done()) {
      if (Date.now() - started > 120_000) throw new Error('consents were not applied within 2 minutes');
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await until(() => pending() === 0);
  const before = tableBytes(path);
  const run = Date.now().toString(36);
  let next = 0;
  const post = async () => {
    for (let i = next++; i < CONSENTS; i = next++) {
      const res = await fetch(`${env.baseUrl}/consent-hub/consent`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify({
          email: `stored.${run}.${i}@example.com`,
          locale: 'DE',
          formUrl: 'https://www.example.com/newsletter/signup',
          providerId: String(100_000 + i),
          consents: [{ key: 'generalMarketingOptIn', granted: true, displayedText: `${GMOI_TEXT}\n` }],
        }),
      });
      await res.arrayBuffer();
      if (res.status !== 202) throw new Error(`storing a consent failed: ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, post));
  await until(() => pending() === 0);
  const after = tableBytes(path);
  const per = (table: string) => ((after.get(table) ?? 0) - (before.get(table) ?? 0)) / CONSENTS;
  const proof = PROOF_TABLES.reduce((sum, t) => sum + per(t), 0);
  const parts = PROOF_TABLES.map((t) => `${t} ${Math.round(per(t))}`).join(' + ');
  // The inbox's applied rows are deleted by consent.inbox-cleanup after the retention.
  const kept = proof - per('consent_requests');
  const verdict = proof <= TARGET_BYTES ? 'ok' : 'MISS';
  return [
    `bytes per stored consent (${CONSENTS} consents through the API, SQLite dbstat): ${Math.round(proof)} = ${parts}   ${verdict} (target ≤ ${TARGET_BYTES})`,
    `  once the inbox clean-up has deleted the applied request: ${Math.round(kept)}   ${kept <= TARGET_BYTES ? 'ok' : 'MISS'}`,
    `  beside it, the signed receipt the person keeps: ${RECEIPT_TABLE} ${Math.round(per(RECEIPT_TABLE))} (not counted)`,
  ].join('\n');
}
