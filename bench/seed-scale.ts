import { randomUUID } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { sqlitePath } from '../src/db/dialect.js';
import { foldName, withDefaultVisibility } from '../src/directory/account.model.js';
import { probeEmails } from './scenarios/consent.js';

/**
 * Bulk seeding for the scale scenarios: accounts and consent events written straight into the
 * database, as the app would have written them after that many requests, so the hot-path
 * queries read realistic rows and indexes. Going through the API would take hours. The
 * server must be stopped meanwhile (SQLite's journal is switched off for the duration).
 *
 * Rows are generated in primary-key order (consent events lead with the email), so each
 * engine appends to its indexes rather than splitting pages at random.
 */
export interface ScaleSizes {
  events: number;
  accounts: number;
}

export interface SeedReport {
  seconds: number;
  /** Database size before and after, in bytes. */
  bytesBefore: number;
  bytesAfter: number;
}

const KEY = 'generalMarketingOptIn';
const NOTICE_VERSION = '2020-04-02';
const LOCALES = ['DE', 'GB', 'US', 'FR', 'NL', 'JP', 'BR', 'UNKNOWN'];
const ROWS_PER_TRANSACTION = 100_000;
const ROWS_PER_PG_INSERT = 20_000;

interface EventSpec {
  seq: number;
  email: string;
  granted: boolean;
  receivedAt: string;
  appliedAt: string;
  clientId: string;
}

interface AccountSpec {
  index: number;
  email: string;
  at: string;
}

/** A column: its name, its PostgreSQL type (for unnest), and its value for one row. */
type Column<S> = readonly [name: string, pgType: string, value: (spec: S) => unknown];

/**
 * The one list of consent-event columns the seeder writes, matching what applying a ConsentHub
 * request stores (src/consent/consent-applier.ts). Adapt it here when the table changes.
 */
const EVENT_COLUMNS: Column<EventSpec>[] = [
  ['request_seq', 'bigint', (e) => e.seq],
  ['email', 'text', (e) => e.email],
  ['key', 'text', () => KEY],
  ['granted', 'integer', (e) => (e.granted ? 1 : 0)],
  // As the applier stores a registered notice's text: by its version, the text not repeated
  // (src/consent/consent.repository.ts, storedEvent).
  ['displayed_text', 'text', () => null],
  ['text_sha256', 'text', () => null],
  ['notice_version', 'text', (e) => (e.granted ? NOTICE_VERSION : null)],
  ['form_url', 'text', () => 'https://www.example.com/newsletter/signup'],
  ['locale', 'text', (e) => LOCALES[e.seq % LOCALES.length]],
  ['provider_id', 'text', (e) => String(e.seq % 9973)],
  ['client_id', 'text', (e) => e.clientId],
  ['remote_addr', 'text', () => '10.20.30.40'],
  ['user_agent', 'text', () => 'crm-sync/4.2'],
  ['received_at', 'text', (e) => e.receivedAt],
  ['applied_at', 'text', (e) => e.appliedAt],
  ['channel', 'text', () => 'api'],
  ['account_id', 'text', () => null],
];

const VISIBILITY = JSON.stringify(withDefaultVisibility());

/** Accounts as `custos import` stores them (src/directory), with an email each. */
const ACCOUNT_COLUMNS: Column<AccountSpec>[] = [
  ['account_id', 'text', (a) => scaleAccountId(a.index)],
  ['account_type', 'text', () => 'atlassian'],
  ['status', 'text', () => 'active'],
  ['organization_id', 'text', () => null],
  ['email', 'text', (a) => a.email],
  ['name', 'text', (a) => `Scale Person ${a.index}`],
  ['nickname', 'text', (a) => `scale${a.index}`],
  ['nickname_folded', 'text', (a) => foldName(`scale${a.index}`)],
  ['avatar_url', 'text', () => null],
  ['job_title', 'text', () => 'Engineer'],
  ['department', 'text', () => null],
  ['location', 'text', () => null],
  ['time_zone', 'text', () => 'Europe/Berlin'],
  ['locale', 'text', () => 'de-DE'],
  ['visibility', 'text', () => VISIBILITY],
  ['created_at', 'text', (a) => a.at],
  ['updated_at', 'text', (a) => a.at],
  ['pd_updated_at', 'text', (a) => a.at],
  ['closed_at', 'text', () => null],
];

/** The seeded people's emails: `{n}` is a person's index, zero-padded to SCALE_INDEX_DIGITS. */
export const SCALE_EMAIL_TEMPLATE = 'person.{n}@scale.example.com';
export const SCALE_INDEX_DIGITS = 7;
const pad = (i: number) => String(i).padStart(SCALE_INDEX_DIGITS, '0');
const scaleAccountId = (i: number) => `scale-${pad(i)}`;
const scaleEmail = (i: number) => SCALE_EMAIL_TEMPLATE.replace('{n}', pad(i));

/**
 * Every person with consent events, sorted: the scale accounts' emails and the benchmark's own
 * probe emails, so the measured requests read people with a history like everyone else's.
 */
function people(sizes: ScaleSizes): string[] {
  const emails = new Set(probeEmails());
  for (let i = 0; i < sizes.accounts; i++) emails.add(scaleEmail(i));
  return [...emails].sort();
}

/**
 * The events, person by person in email order. Person e's k-th event has request seq
 * base + k·P + e + 1 (P people): requests from everyone interleave in time, as in real traffic,
 * and every seq lies above those already stored, so the seeded history is the newest.
 */
function* events(sizes: ScaleSizes, base: number, clientIds: string[]): Generator<EventSpec> {
  const emails = people(sizes);
  const count = emails.length;
  const perPerson = Math.floor(sizes.events / count);
  const extra = sizes.events % count;
  const span = 30 * 86_400_000;
  const start = Date.now() - span;
  const step = span / (base + (perPerson + 1) * count + 1);
  for (let e = 0; e < count; e++) {
    const email = emails[e] as string;
    const n = perPerson + (e < extra ? 1 : 0);
    for (let k = 0; k < n; k++) {
      const seq = base + k * count + e + 1;
      const received = start + seq * step;
      yield {
        seq,
        email,
        // Mostly opted in at the end, with a history of changes of mind before.
        granted: k === n - 1 ? e % 4 !== 0 : (k + e) % 2 === 0,
        receivedAt: new Date(received).toISOString(),
        appliedAt: new Date(received + 4).toISOString(),
        clientId: clientIds[e % clientIds.length] as string,
      };
    }
  }
}

/** The highest request seq `events` gives, so the inbox's sequence can continue after it. */
function lastSeq(sizes: ScaleSizes, base: number): number {
  const count = people(sizes).length;
  const perPerson = Math.floor(sizes.events / count);
  const extra = sizes.events % count;
  if (sizes.events === 0) return base;
  return extra > 0 ? base + perPerson * count + extra : base + (perPerson - 1) * count + count;
}

function* accounts(sizes: ScaleSizes): Generator<AccountSpec> {
  const at = new Date(Date.now() - 90 * 86_400_000).toISOString();
  for (let i = 0; i < sizes.accounts; i++) yield { index: i, email: scaleEmail(i), at };
}

// Five CRM clients wrote the history: the client id is a UUID, as token creation makes it.
const CLIENT_IDS = Array.from({ length: 5 }, () => randomUUID());

function sqliteBytes(path: string): number {
  return ['', '-wal'].reduce(
    (sum, suffix) => sum + (existsSync(path + suffix) ? statSync(path + suffix).size : 0),
    0,
  );
}

async function seedSqlite(url: string, sizes: ScaleSizes, log: (line: string) => void): Promise<SeedReport> {
  const path = sqlitePath(url);
  const bytesBefore = sqliteBytes(path);
  const started = performance.now();
  const db = new SQLite(path);
  try {
    // Relaxed for the seeding only: no journal and no fsync; WAL and full sync come back after.
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.pragma('cache_size = -262144');
    const insert = <S>(
      table: string,
      columns: Column<S>[],
      rows: Iterable<S>,
      label: string,
      total: number,
    ) => {
      const statement = db.prepare(
        `insert into ${table} (${columns.map((c) => c[0]).join(', ')}) values (${columns.map(() => '?').join(', ')})`,
      );
      const values = columns.map((c) => c[2]);
      let written = 0;
      let batch: S[] = [];
      const flush = db.transaction((specs: S[]) => {
        for (const spec of specs) statement.run(values.map((value) => value(spec)));
      });
      for (const spec of rows) {
        batch.push(spec);
        if (batch.length === ROWS_PER_TRANSACTION) {
          flush(batch);
          written += batch.length;
          batch = [];
          if (written % 1_000_000 === 0)
            log(`  ${label}: ${written.toLocaleString('en')} of ${total.toLocaleString('en')}`);
        }
      }
      flush(batch);
    };
    insert('accounts', ACCOUNT_COLUMNS, accounts(sizes), 'accounts', sizes.accounts);
    const base = Number(
      (
        db.prepare("select seq from sqlite_sequence where name = 'consent_requests'").get() as
          | { seq?: number }
          | undefined
      )?.seq ?? 0,
    );
    insert('consent_events', EVENT_COLUMNS, events(sizes, base, CLIENT_IDS), 'consent events', sizes.events);
    // The inbox continues after the seeded history, as if those requests had come through it.
    const next = lastSeq(sizes, base);
    const updated = db
      .prepare("update sqlite_sequence set seq = ? where name = 'consent_requests'")
      .run(next).changes;
    if (updated === 0)
      db.prepare("insert into sqlite_sequence (name, seq) values ('consent_requests', ?)").run(next);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
  } finally {
    db.close();
  }
  return { seconds: (performance.now() - started) / 1000, bytesBefore, bytesAfter: sqliteBytes(path) };
}

async function seedPostgres(
  url: string,
  sizes: ScaleSizes,
  log: (line: string) => void,
): Promise<SeedReport> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const size = async () =>
    Number((await client.query('select pg_database_size(current_database()) as n')).rows[0].n);
  try {
    const bytesBefore = await size();
    const started = performance.now();
    // Nothing waits for these commits; the seeding is redone if the machine stops.
    await client.query('set synchronous_commit to off');
    const insert = async <S>(
      table: string,
      columns: Column<S>[],
      rows: Iterable<S>,
      label: string,
      total: number,
    ) => {
      const text = `insert into ${table} (${columns.map((c) => c[0]).join(', ')}) select * from unnest(${columns
        .map((c, i) => `$${i + 1}::${c[1]}[]`)
        .join(', ')})`;
      let arrays: unknown[][] = columns.map(() => []);
      let written = 0;
      const flush = async () => {
        if ((arrays[0] as unknown[]).length === 0) return;
        await client.query({ name: `seed_${table}`, text, values: arrays });
        written += (arrays[0] as unknown[]).length;
        arrays = columns.map(() => []);
        if (written % 1_000_000 === 0)
          log(`  ${label}: ${written.toLocaleString('en')} of ${total.toLocaleString('en')}`);
      };
      for (const spec of rows) {
        for (let c = 0; c < columns.length; c++)
          (arrays[c] as unknown[]).push((columns[c] as Column<S>)[2](spec));
        if ((arrays[0] as unknown[]).length === ROWS_PER_PG_INSERT) await flush();
      }
      await flush();
    };
    await insert('accounts', ACCOUNT_COLUMNS, accounts(sizes), 'accounts', sizes.accounts);
    const sequence = (await client.query("select pg_get_serial_sequence('consent_requests', 'seq') as name"))
      .rows[0].name as string;
    const state = (await client.query(`select last_value, is_called from ${sequence}`)).rows[0];
    const base = state.is_called ? Number(state.last_value) : 0;
    await insert(
      'consent_events',
      EVENT_COLUMNS,
      events(sizes, base, CLIENT_IDS),
      'consent events',
      sizes.events,
    );
    await client.query('select setval($1::regclass, $2)', [sequence, lastSeq(sizes, base)]);
    // What autovacuum would have done by the time a table held this much: planner statistics
    // and the visibility map that lets reads use the indexes alone.
    await client.query('vacuum analyze accounts');
    await client.query('vacuum analyze consent_events');
    return { seconds: (performance.now() - started) / 1000, bytesBefore, bytesAfter: await size() };
  } finally {
    await client.end();
  }
}

export function seedScale(
  url: string,
  sizes: ScaleSizes,
  log: (line: string) => void = () => {},
): Promise<SeedReport> {
  return url.startsWith('sqlite:') ? seedSqlite(url, sizes, log) : seedPostgres(url, sizes, log);
}

/** BENCH_SCALE_EVENTS and BENCH_SCALE_ACCOUNTS; by default the issue's 10,000,000 and 1,000,000. */
export function scaleSizes(): ScaleSizes {
  const read = (name: string, fallback: number) => {
    const value = Number(process.env[name] ?? fallback);
    if (!Number.isInteger(value) || value < 0)
      throw new Error(`${name} must be a whole number, got ${process.env[name]}`);
    return value;
  };
  return {
    events: read('BENCH_SCALE_EVENTS', 10_000_000),
    accounts: read('BENCH_SCALE_ACCOUNTS', 1_000_000),
  };
}

// `node --import tsx bench/seed-scale.ts <DATABASE_URL>`: seeds a migrated database on its own
// (`npm run custos -- migrate` first), with the server stopped.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const url = process.argv[2];
  if (!url) throw new Error('usage: seed-scale.ts <DATABASE_URL>');
  const sizes = scaleSizes();
  const report = await seedScale(url, sizes, (line) => console.log(line));
  console.log(
    `seeded ${sizes.accounts.toLocaleString('en')} accounts and ${sizes.events.toLocaleString('en')} consent events in ${report.seconds.toFixed(0)} s; database ${(report.bytesBefore / 1e6).toFixed(0)} MB → ${(report.bytesAfter / 1e6).toFixed(0)} MB`,
  );
}
