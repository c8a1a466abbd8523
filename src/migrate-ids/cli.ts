#!/usr/bin/env node
import { closeSync, existsSync, fsyncSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import { csvRecord, parseCsv } from './csv.js';

/**
 * custos-migrate-ids: for vendors moving stored emails and usernames to account ids. Reads a
 * CSV, resolves one column of each row through Custos's user search with the app's OAuth
 * client credentials, and writes the rows with `accountId` and `status` added, in input
 * order. Each batch of finished rows is fsynced before more are sent, so after a crash or a
 * kill a second run with the same files continues after the last row written, and no row is
 * resolved into the output twice. It honours 429 Retry-After, retries server errors with
 * backoff, and shows a progress bar on a terminal.
 */

interface Options {
  url: string;
  clientId: string;
  clientSecret: string;
  column?: string;
  concurrency: number;
  progress: boolean;
}

type Status = 'found' | 'not-found' | 'ambiguous' | 'empty';

class Fatal extends Error {}

const FLUSH_ROWS = 200;
const FLUSH_MS = 250;

const positive = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('a whole number from 1 to 64');
  return n;
};

function retryAfterMs(header: string | null): number {
  if (header === null) return 1000;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? 1000 : Math.max(0, at - Date.now());
}

class CustosClient {
  private token: { value: string; until: number } | undefined;
  /** While set and in the future, every request waits: the server said 429. */
  private pausedUntil = 0;

  constructor(private readonly options: Options) {}

  private async accessToken(renew = false): Promise<string> {
    if (!renew && this.token && this.token.until > Date.now()) return this.token.value;
    const res = await fetch(new URL('/oauth/token', this.options.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        grant_type: 'client_credentials',
        client_id: this.options.clientId,
        client_secret: this.options.clientSecret,
        scope: 'read:user',
      }),
    });
    if (res.status === 429) {
      await sleep(retryAfterMs(res.headers.get('retry-after')));
      return this.accessToken(renew);
    }
    if (!res.ok)
      throw new Fatal(
        `Custos refused the client credentials (${res.status}): check the client id and secret`,
      );
    const body = (await res.json()) as { access_token: string; expires_in: number };
    this.token = { value: body.access_token, until: Date.now() + Math.max(10, body.expires_in - 60) * 1000 };
    return body.access_token;
  }

  /** The account ids the query names exactly, for the app. */
  async search(query: string): Promise<string[]> {
    const url = new URL('/rest/api/3/user/search', this.options.url);
    url.searchParams.set('query', query);
    url.searchParams.set('maxResults', '2');
    let renewed = false;
    for (let attempt = 1; ; attempt++) {
      const wait = this.pausedUntil - Date.now();
      if (wait > 0) await sleep(wait);
      let res: Response;
      try {
        res = await fetch(url, { headers: { authorization: `Bearer ${await this.accessToken()}` } });
      } catch (error) {
        if (error instanceof Fatal || attempt >= 8) throw error;
        await sleep(Math.min(30_000, 250 * 2 ** attempt));
        continue;
      }
      if (res.status === 429) {
        this.pausedUntil = Math.max(
          this.pausedUntil,
          Date.now() + retryAfterMs(res.headers.get('retry-after')),
        );
        await res.body?.cancel();
        continue;
      }
      if (res.status === 401 && !renewed) {
        renewed = true;
        await res.body?.cancel();
        await this.accessToken(true);
        continue;
      }
      if (res.status >= 500 && attempt < 8) {
        await res.body?.cancel();
        await sleep(Math.min(30_000, 250 * 2 ** attempt));
        continue;
      }
      if (!res.ok) throw new Fatal(`Custos answered ${res.status} to a search: ${await res.text()}`);
      return ((await res.json()) as { accountId: string }[]).map((u) => u.accountId);
    }
  }
}

/** Opens the output for appending, first cutting off a record a crash left half written; returns the rows done. */
function openOutput(path: string, header: string[]): { fd: number; done: number } {
  if (!existsSync(path)) {
    const fd = openSync(path, 'w');
    writeSync(fd, csvRecord(header));
    fsyncSync(fd);
    return { fd, done: 0 };
  }
  const text = readFileSync(path, 'utf8');
  const parsed = parseCsv(text);
  const fd = openSync(path, 'r+');
  if (parsed.complete === 0) {
    ftruncateSync(fd, 0);
    writeSync(fd, csvRecord(header), 0);
    fsyncSync(fd);
    return { fd, done: 0 };
  }
  if (parsed.records[0]?.join(',') !== header.join(',')) {
    closeSync(fd);
    throw new Fatal(`${path} exists with other columns: it is not this input's output`);
  }
  // Bytes, not characters: the file may hold multi-byte text.
  const keep = Buffer.byteLength(text.slice(0, parsed.completeEnd), 'utf8');
  ftruncateSync(fd, keep);
  fsyncSync(fd);
  closeSync(fd);
  return { fd: openSync(path, 'a'), done: parsed.complete - 1 };
}

async function migrate(input: string, output: string, options: Options): Promise<void> {
  const { records } = parseCsv(readFileSync(input, 'utf8'));
  const [header, ...rows] = records;
  if (!header || header.length === 0) throw new Fatal(`${input} has no header row`);
  const column = options.column === undefined ? 0 : header.indexOf(options.column);
  if (column === -1) throw new Fatal(`${input} has no column named ${options.column}`);
  const out = openOutput(output, [...header, 'accountId', 'status']);
  const client = new CustosClient(options);
  const bar = new SingleBar({
    format: 'Resolving [{bar}] {percentage}% | {value}/{total} rows | ETA {eta_formatted}',
    stream: process.stderr,
    hideCursor: true,
  });
  const showProgress = options.progress && process.stderr.isTTY === true;
  if (showProgress) bar.start(rows.length, out.done);
  else if (out.done > 0) process.stderr.write(`Resuming after row ${out.done} of ${rows.length}\n`);

  // Results arrive out of order; they are written in input order, so "rows done" is a count.
  const results = new Map<number, string>();
  let next = out.done;
  let written = out.done;
  let stopping = false;
  const stop = () => {
    stopping = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let lastFlush = Date.now();
  /** Writes the finished rows in order; fsyncs per batch (200 rows or a quarter second), not per row. */
  const flush = (force: boolean) => {
    const ready = results.has(written);
    if (!ready || (!force && results.size < FLUSH_ROWS && Date.now() - lastFlush < FLUSH_MS)) return;
    lastFlush = Date.now();
    let chunk = '';
    while (results.has(written)) {
      chunk += results.get(written);
      results.delete(written);
      written += 1;
    }
    if (chunk === '') return;
    writeSync(out.fd, chunk);
    fsyncSync(out.fd);
    if (showProgress) bar.update(written);
  };
  const work = async () => {
    while (!stopping && next < rows.length) {
      const index = next++;
      const row = rows[index] as string[];
      const value = (row[column] ?? '').trim();
      let ids: string[] = [];
      let status: Status = 'empty';
      if (value !== '') {
        ids = await client.search(value);
        status = ids.length === 0 ? 'not-found' : ids.length === 1 ? 'found' : 'ambiguous';
      }
      const padded = [...row, ...Array<string>(Math.max(0, header.length - row.length)).fill('')];
      results.set(
        index,
        csvRecord([...padded.slice(0, header.length), status === 'found' ? (ids[0] as string) : '', status]),
      );
      flush(false);
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, work));
  } finally {
    flush(true);
    closeSync(out.fd);
    if (showProgress) bar.stop();
  }
  if (stopping) {
    process.stderr.write(`Stopped after row ${written} of ${rows.length}; run again to continue\n`);
    process.exitCode = 130;
    return;
  }
  process.stderr.write(`Resolved ${rows.length} rows into ${output}\n`);
}

const program = new Command('custos-migrate-ids')
  .description(
    'Resolves the emails or usernames (public names) in a CSV to Custos account ids, through the user search, as your app. Run it again after an interruption: it continues where it stopped.',
  )
  .argument('<input>', 'CSV with a header row')
  .argument(
    '<output>',
    'CSV to write: the input rows plus accountId and status (found, not-found, ambiguous, empty)',
  )
  .option('--url <url>', 'Custos base URL (env CUSTOS_URL)', process.env.CUSTOS_URL)
  .option(
    '--client-id <id>',
    "the app's OAuth client id (env CUSTOS_CLIENT_ID)",
    process.env.CUSTOS_CLIENT_ID,
  )
  .option(
    '--client-secret <secret>',
    "the app's OAuth client secret (env CUSTOS_CLIENT_SECRET; prefer the environment)",
    process.env.CUSTOS_CLIENT_SECRET,
  )
  .option('--column <name>', 'the column holding the email or username (default: the first)')
  .option('--concurrency <n>', 'searches in flight at once', positive, 4)
  .option('--no-progress', 'no progress bar')
  .action(async (input: string, output: string, opts: Partial<Options>) => {
    for (const [name, flag] of [
      ['url', '--url / CUSTOS_URL'],
      ['clientId', '--client-id / CUSTOS_CLIENT_ID'],
      ['clientSecret', '--client-secret / CUSTOS_CLIENT_SECRET'],
    ] as const) {
      if (!opts[name]) program.error(`error: ${flag} is required`, { exitCode: 2 });
    }
    await migrate(input, output, opts as Options);
  });

program.parseAsync().catch((error: unknown) => {
  process.stderr.write(`custos-migrate-ids: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
