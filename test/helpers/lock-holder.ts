/**
 * Run as its own process: takes the write lock another Custos process would need and holds
 * it for HOLD_MS, printing "locked" once it holds it. SQLite: BEGIN IMMEDIATE (the one
 * writer lock), then a blocking sleep. PostgreSQL, which has no database-wide writer lock:
 * a lock on consent_requests that lets readers through and makes inserts wait.
 */
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { sqlitePath } from '../../src/db/dialect.js';

const url = process.env.DATABASE_URL ?? '';
const holdMs = Number(process.env.HOLD_MS ?? '10000');

if (url.startsWith('sqlite:')) {
  const db = new SQLite(sqlitePath(url));
  db.exec('begin immediate');
  process.stdout.write('locked\n');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, holdMs);
  db.exec('commit');
  db.close();
} else {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('begin');
  await client.query('lock table consent_requests in share row exclusive mode');
  process.stdout.write('locked\n');
  await new Promise((resolve) => setTimeout(resolve, holdMs));
  await client.query('commit');
  await client.end();
}
