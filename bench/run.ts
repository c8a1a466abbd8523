import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  fstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { measureConsolePages } from './console-pages.js';
import type { LoadJob, LoadResult } from './load.js';
import type { BenchEnv, BenchRequest, BenchScenario } from './scenario.js';
import {
  consentAuthorization,
  consentConfigGet,
  consentPost,
  GMOI_TEXT,
  PROBE_EMAIL,
} from './scenarios/consent.js';
import { scenarios } from './scenarios/index.js';
import { reportAccounts } from './scenarios/report-accounts.js';
import { bulkUsers, singleUser } from './scenarios/user-api.js';
import {
  SCALE_EMAIL_TEMPLATE,
  SCALE_INDEX_DIGITS,
  type ScaleSizes,
  type SeedReport,
  scaleSizes,
  seedScale,
} from './seed-scale.js';
import { measureStorage } from './storage.js';
import { measureWebhookFanout } from './webhook-fanout.js';

/**
 * `npm run bench [-- --engine sqlite|postgres|both] [--scale] [--only <name part>,…]`: starts
 * Custos servers (built, logging and metrics on) and bare Fastify baselines, each in its own
 * process, and loads each scenario against them from another (bench/load.ts), in rounds in
 * which baseline and Custos processes take turns, so that drift on the shared machine hits
 * both alike. Prints throughput, latency and the servers' CPU time per request side by side
 * with the ratio to the baseline. `--scale` then bulk-seeds the database
 * (bench/seed-scale.ts) and measures the hot paths again; `--engine both` runs SQLite then
 * PostgreSQL and compares the reads.
 */
const option = (name: string) =>
  process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined;
const engineOption = option('--engine') ?? 'sqlite';
if (!['sqlite', 'postgres', 'both'].includes(engineOption))
  throw new Error(`--engine must be sqlite, postgres or both, got ${engineOption}`);
const engines: Engine[] = engineOption === 'both' ? ['sqlite', 'postgres'] : [engineOption as Engine];
const ladder = process.argv.includes('--ladder');
const scale = process.argv.includes('--scale') || ['1', 'true'].includes(process.env.BENCH_SCALE ?? '');
const only = option('--only');
// With the in-process worker off nothing is applied during the run: the durable POST's own
// path, measured alone. A choice then never becomes visible, so there is no lag to measure.
const applying = process.env.CUSTOS_IN_PROCESS_WORKER !== 'false';
/**
 * `BENCH_WORKER=apart`: each fleet of Custos servers runs with its in-process worker off and
 * one `custos worker` process beside it, which applies what they accept (README, Running
 * several processes); its CPU counts as the fleet's. `in-process` (the default) is `serve`'s
 * own worker.
 */
const workerTopology = process.env.BENCH_WORKER ?? 'in-process';
if (!['in-process', 'apart'].includes(workerTopology))
  throw new Error(`BENCH_WORKER must be in-process or apart, got ${workerTopology}`);
const workerApart = workerTopology === 'apart' && applying;
// Several parts, comma-separated, select every scenario whose name holds one of them.
const picked = (name: string) => !only || only.split(',').some((part) => name.includes(part));
const selected = scenarios.filter((s) => picked(s.name));
const duration = Number(process.env.BENCH_DURATION ?? 10);
// Each measurement is split into this many rounds; in each, every process of every kind is loaded once.
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
// BENCH_CPU_PROFILE=<dir>: write V8 CPU profiles of every Custos and ladder server there, for finding where time goes.
const profileArgs = process.env.BENCH_CPU_PROFILE
  ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROFILE}`]
  : [];
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32);
/**
 * Servers of each kind (the bare route, Custos, each ladder layer) in a comparison. Two
 * processes of one build and configuration can differ by a sixth in CPU per request for as
 * long as they run (docs/benchmarks.md#how-the-benchmark-measures): each kind's figure is
 * taken over all of its processes, which take turns with the other kinds' in the rounds.
 */
const processes = Number(process.env.BENCH_PROCESSES ?? 2);
if (!Number.isInteger(processes) || processes < 1)
  throw new Error(`BENCH_PROCESSES must be a whole number of at least 1, got ${process.env.BENCH_PROCESSES}`);
const adminPostgresUrl = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const root = new URL('..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'custos-bench-'));
const exec = promisify(execFile);

type Engine = 'sqlite' | 'postgres';

interface Measured {
  rps: number;
  /** Server CPU time per request (user + system), in µs: steadier than req/s on a shared machine. */
  cpuUs: number;
  /** PostgreSQL only: CPU time of the server's database backends per request, in µs. */
  dbCpuUs: number;
  /** The load generator's own CPU time per request, in µs: how much of the two cores it takes. */
  loadCpuUs: number;
  /** Medians over the rounds. */
  p50: number;
  p99: number;
  failures: number;
  requests: number;
  /**
   * CPU per request in each of the kind's processes' rounds, in µs: the kind's servers' (the
   * loaded one's, and any work its idle twins did meanwhile) and their database's.
   */
  perProcessCpuUs: number[];
}

/**
 * A server under load: where to send requests, and the processes whose CPU is counted while
 * it is loaded. The servers of its kind are all counted: an idle twin on the same database
 * applies some of the consents the loaded one accepted.
 */
interface Target {
  url: string;
  serverPids(): number[];
  databasePids(): Promise<number[]>;
}

interface Started {
  child: ChildProcess;
  url: string;
}

/** What has been written to `file` from byte `offset` on. */
function readFrom(file: string, offset: number): string {
  const fd = openSync(file, 'r');
  try {
    const bytes = Buffer.alloc(Math.max(0, fstatSync(fd).size - offset));
    readSync(fd, bytes, 0, bytes.length, offset);
    return bytes.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** A server announces its address; a worker, that it runs. */
const SERVER_READY = /listening on (http:\/\/\S+)/;
const WORKER_READY = /Custos worker running/;

function startProcess(
  args: string[],
  env: Record<string, string>,
  logFile: string,
  ready: RegExp = SERVER_READY,
): Promise<Started> {
  // The log is shared with the engine's earlier servers and holds a line per request, hundreds
  // of MB after a long run: only what this process writes is read, from the size it had before
  // the process started. (Reading the whole log after spawning took longer than the start-up
  // itself, and the offset then lay past the line announcing it.)
  const offset = existsSync(logFile) ? statSync(logFile).size : 0;
  const out = openSync(logFile, 'a');
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      const match = ready.exec(readFrom(logFile, offset));
      if (match) {
        clearInterval(poll);
        resolve({ child, url: match[1] ?? '' });
      } else if (hasEnded(child) || Date.now() - started > 120_000) {
        clearInterval(poll);
        void stopProcess(child);
        reject(new Error(`process did not start: ${readFrom(logFile, offset)}`));
      }
    }, 50);
  });
}

/** Whether a process has ended, by itself or by a signal (a baseline has no SIGTERM handler). */
const hasEnded = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

async function stopProcess(child: ChildProcess): Promise<void> {
  if (hasEnded(child)) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** The processes of one kind in a comparison (see `processes`), measured as one contender. */
interface Fleet {
  targets: Target[];
  serverPids(): number[];
  stop(): Promise<void>;
}

/**
 * Starts `processes` servers of one kind, one after another (two Custos servers migrating
 * one database at once would wait on each other's lock), each logging to `${name}-${i}.log`.
 */
async function startFleet(
  name: string,
  args: string[],
  env: Record<string, string>,
  databasePids: () => Promise<number[]> = async () => [],
): Promise<Fleet> {
  const started: Started[] = [];
  try {
    for (let i = 0; i < processes; i++)
      started.push(await startProcess(args, env, join(work, `${name}-${i}.log`)));
  } catch (error) {
    for (const server of started) await stopProcess(server.child);
    throw error;
  }
  const serverPids = () => started.flatMap((server) => server.child.pid ?? []);
  let stopped: Promise<void> | undefined;
  return {
    targets: started.map((server) => ({ url: server.url, serverPids, databasePids })),
    serverPids,
    stop: () => {
      stopped ??= (async () => {
        for (const server of started) await stopProcess(server.child);
      })();
      return stopped;
    },
  };
}

/**
 * Custos servers (`serve`) on one database, named `name`; with `BENCH_WORKER=apart`, their
 * in-process worker off and a `custos worker` process beside them, counted with them and
 * stopped after them (so that it applies what they accepted last).
 */
async function startCustosFleet(
  name: string,
  env: Record<string, string>,
  databasePids?: () => Promise<number[]>,
): Promise<Fleet> {
  const serve = [...profileArgs, 'dist/cli.js', 'serve'];
  if (!workerApart) return startFleet(name, serve, env, databasePids);
  const servers = await startFleet(name, serve, { ...env, CUSTOS_IN_PROCESS_WORKER: 'false' }, databasePids);
  let worker: Started;
  try {
    worker = await startProcess(
      [...profileArgs, 'dist/cli.js', 'worker'],
      env,
      join(work, `${name}-worker.log`),
      WORKER_READY,
    );
  } catch (error) {
    await servers.stop();
    throw error;
  }
  const serverPids = () => [
    ...servers.serverPids(),
    ...(worker.child.pid === undefined ? [] : [worker.child.pid]),
  ];
  let stopped: Promise<void> | undefined;
  return {
    targets: servers.targets.map((target) => ({ ...target, serverPids })),
    serverPids,
    stop: () => {
      stopped ??= (async () => {
        await servers.stop();
        await stopProcess(worker.child);
      })();
      return stopped;
    },
  };
}

/** No servers: what a fleet variable holds before its first start. */
const noFleet: Fleet = { targets: [], serverPids: () => [], stop: async () => {} };

/** Waits until a fleet's servers are idle together (see settle). */
async function settleFleet(fleet: Fleet): Promise<void> {
  await settle(fleet.serverPids());
}

/** CPU seconds of a set of processes (see cpuSeconds). */
const cpuOf = (pids: number[]) => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);

/** CPU seconds (user + system) a process has used so far, from /proc; 0 once it is gone. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined || !existsSync(`/proc/${pid}/stat`)) return 0;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * One load of `seconds` from its own process. CPU is read when the load generator says it
 * starts and again when it answers, so its own start-up is not counted against the server.
 */
async function loadOnce(target: Target, request: BenchRequest, seconds: number) {
  const jobFile = join(work, `load-${randomBytes(6).toString('hex')}.json`);
  const job: LoadJob = { url: target.url, connections, seconds, request };
  writeFileSync(jobFile, JSON.stringify(job));
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/load.ts', jobFile], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let server = 0;
  let database = 0;
  // Each backend's CPU at the start; one that ends during the load (rare: the pool keeps its connections) is left out.
  let databaseAtStart = new Map<number, number>();
  let result: LoadResult | undefined;
  let buffered = '';
  const lines: Promise<void>[] = [];
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
      const line = JSON.parse(buffered.slice(0, end)) as { started?: true } & LoadResult;
      buffered = buffered.slice(end + 1);
      if (line.started) {
        lines.push(
          target.databasePids().then((pids) => {
            databaseAtStart = new Map(pids.map((pid) => [pid, cpuSeconds(pid)]));
            server -= cpuOf(target.serverPids());
          }),
        );
      } else {
        server += cpuOf(target.serverPids());
        for (const [pid, before] of databaseAtStart) {
          const after = cpuSeconds(pid);
          if (after > 0) database += after - before;
        }
        result = line;
      }
    }
  });
  const code = await new Promise((resolve) => child.once('exit', resolve));
  await Promise.all(lines);
  rmSync(jobFile, { force: true });
  if (!result) throw new Error(`the load generator stopped (exit ${code}) without a result`);
  return { ...result, server, database };
}

/**
 * Waits (at most a minute) until a server is idle: the jobs a freshly started one runs over a
 * large database, or the consents a scenario's POSTs queued, would otherwise be counted as
 * the next scenario's CPU per request. Says so when it waited more than its first second.
 */
async function settle(pids: number[]): Promise<void> {
  for (let waited = 1; waited <= 60; waited++) {
    const before = cpuOf(pids);
    await new Promise((r) => setTimeout(r, 1000));
    if (cpuOf(pids) - before < 0.05) {
      if (waited > 1) console.log(`  (waited ${waited} s for a server to go idle)`);
      return;
    }
  }
}

/** Flushes what a bulk seeding left to write: the kernel's dirty pages, and PostgreSQL's buffers. */
async function settleDisk(url: string): Promise<void> {
  if (url.startsWith('postgres')) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query('checkpoint');
    } finally {
      await client.end();
    }
  }
  await exec('sync', []);
}

const median = (values: number[]) => percentile(values, 50);

/** One kind of server (its processes) and the request it is loaded with, in alternating rounds. */
interface Contender {
  targets: Target[];
  request: BenchRequest;
}

type LoadRun = Awaited<ReturnType<typeof loadOnce>>;

/**
 * Servers measured in alternating rounds (after a short warm-up of each), each round
 * duration / rounds seconds. In every round each process of every contender is loaded once,
 * the kinds taking turns (a1, b1, a2, b2); a contender's figures sum its processes' rounds
 * (latencies: their medians). `during` runs beside each round of a process of the contender
 * at `index`, and is told which one is loaded.
 */
async function alternate(
  contenders: Contender[],
  during?: { index: number; run: (target: Target, round: Promise<unknown>) => Promise<void> },
): Promise<Measured[]> {
  type Slot = { target: Target; request: BenchRequest; runs: LoadRun[] };
  const kinds = contenders.length;
  const slots: Slot[][] = contenders.map((c) =>
    c.targets.map((target) => ({ target, request: c.request, runs: [] })),
  );
  const most = Math.max(...slots.map((mine) => mine.length));
  for (const slot of slots.flat()) await loadOnce(slot.target, slot.request, 2);
  const seconds = Math.max(1, Math.round(duration / rounds));
  for (let round = 0; round < rounds; round++) {
    // Two kinds take turns; more start each round one further along (a, b, c; b, c, a;
    // c, a, b): each takes every place in turn, and no kind is measured twice in a row. The
    // processes of a kind change places from round to round as well.
    const first = kinds > 2 ? round % kinds : 0;
    for (let p = 0; p < most; p++) {
      for (let k = 0; k < kinds; k++) {
        const index = (first + k) % kinds;
        const mine = slots[index] as Slot[];
        const slot = mine[(p + round) % most];
        if (!slot) continue;
        const measured = loadOnce(slot.target, slot.request, seconds);
        const side = during?.index === index ? during.run(slot.target, measured) : undefined;
        const [result] = await Promise.all([measured, side]);
        slot.runs.push(result);
      }
    }
  }
  const perRequest = (list: LoadRun[], seconds: (r: LoadRun) => number) =>
    (list.reduce((n, r) => n + seconds(r), 0) * 1e6) /
    Math.max(
      1,
      list.reduce((n, r) => n + r.requests, 0),
    );
  const sum = (mine: Slot[]): Measured => {
    const list = mine.flatMap((slot) => slot.runs);
    const requests = list.reduce((n, r) => n + r.requests, 0);
    return {
      requests,
      rps: requests / list.reduce((n, r) => n + r.seconds, 0),
      cpuUs: perRequest(list, (r) => r.server),
      dbCpuUs: perRequest(list, (r) => r.database),
      loadCpuUs: perRequest(list, (r) => r.cpuSeconds),
      p50: median(list.map((r) => r.p50)),
      p99: median(list.map((r) => r.p99)),
      failures: list.reduce((n, r) => n + r.failures, 0),
      perProcessCpuUs: mine.map((slot) => perRequest(slot.runs, (r) => r.server + r.database)),
    };
  };
  return slots.map(sum);
}

/** Baseline and Custos in alternating rounds (see alternate). */
async function compare(
  custos: Fleet,
  request: BenchRequest,
  baseline: Fleet,
  baseRequest: BenchRequest,
  duringCustosRound?: (target: Target, round: Promise<unknown>) => Promise<void>,
): Promise<{ custos: Measured; baseline: Measured }> {
  const [base, measured] = await alternate(
    [
      { targets: baseline.targets, request: baseRequest },
      { targets: custos.targets, request },
    ],
    duringCustosRound && { index: 1, run: duringCustosRound },
  );
  return { custos: measured as Measured, baseline: base as Measured };
}

interface TestDatabase {
  url: string;
  /** The PostgreSQL backends serving this database (none on SQLite). */
  backendPids(): Promise<number[]>;
  /**
   * PostgreSQL: refreshes the planner's statistics, as autovacuum does within a minute or so
   * of a bulk import in service; measured straight after the import, the planner would still
   * guess the sizes of the tables it just filled.
   */
  analyze(): Promise<void>;
  /** A second database holding what this one holds now (no server may have it open). */
  copy(suffix: string): Promise<TestDatabase>;
  drop(): Promise<void>;
}

function sqliteDatabase(file: string): TestDatabase {
  const path = join(work, file);
  return {
    url: `sqlite:${path}`,
    backendPids: async () => [],
    analyze: async () => {},
    copy: async (suffix) => {
      const copyFile = file.replace(/\.db$/, `-${suffix}.db`);
      for (const part of ['', '-wal'])
        if (existsSync(`${path}${part}`)) copyFileSync(`${path}${part}`, join(work, `${copyFile}${part}`));
      return sqliteDatabase(copyFile);
    },
    drop: async () => {},
  };
}

async function postgresDatabase(name: string, template?: string): Promise<TestDatabase> {
  const admin = new pg.Client({ connectionString: adminPostgresUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ''}`);
  } catch (error) {
    await admin.end();
    throw error;
  }
  const url = new URL(adminPostgresUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    backendPids: async () =>
      (
        await admin.query<{ pid: number }>(
          // Client backends only: autovacuum, busy after a bulk seeding, is not a request's cost.
          "select pid from pg_stat_activity where datname = $1 and backend_type = 'client backend' and pid <> pg_backend_pid()",
          [name],
        )
      ).rows.map((r) => r.pid),
    analyze: async () => {
      const client = new pg.Client({ connectionString: url.toString() });
      await client.connect();
      await client.query('analyze').finally(() => client.end());
    },
    copy: (suffix) => postgresDatabase(`${name}_${suffix}`, name),
    drop: async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

function testDatabase(engine: Engine): Promise<TestDatabase> {
  return engine === 'sqlite'
    ? Promise.resolve(sqliteDatabase('custos.db'))
    : postgresDatabase(`custos_bench_${process.pid}`);
}

/**
 * Time from a 202 to the change showing in consent-config/get, sampled while `busy` runs.
 * Each of the probe's reads waits in the same queue as the load's requests, so their own
 * times are kept too: a lag cannot be shorter than the read that sees the change.
 */
async function visibilityLag(
  baseUrl: string,
  auth: string,
  busy: Promise<unknown>,
): Promise<{ lags: number[]; reads: number[] }> {
  const lags: number[] = [];
  const reads: number[] = [];
  const headers = { authorization: auth, 'content-type': 'application/json' };
  let granted = false;
  let running = true;
  const stop = () => {
    running = false;
  };
  // The round's own failure is reported by whoever awaits it.
  busy.then(stop, stop);
  while (running) {
    granted = !granted;
    const res = await fetch(`${baseUrl}/consent-hub/consent`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        email: PROBE_EMAIL,
        locale: 'GB',
        consents: [
          { key: 'generalMarketingOptIn', granted, ...(granted ? { displayedText: GMOI_TEXT } : {}) },
        ],
      }),
    });
    await res.arrayBuffer();
    const accepted = performance.now();
    for (;;) {
      const sent = performance.now();
      const check = await fetch(`${baseUrl}/consent-hub/consent-config/get`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ email: PROBE_EMAIL }),
      });
      const body = (await check.json()) as { usersChoiceOnMarketingCommunicationOptIn: boolean };
      reads.push(performance.now() - sent);
      if (body.usersChoiceOnMarketingCommunicationOptIn === granted) break;
    }
    lags.push(performance.now() - accepted);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { lags, reads };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function slug(name: string): string {
  return name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
}

function verdict(s: BenchScenario, custos: Measured, base: Measured): string {
  if (custos.failures > 0) return `FAIL (${custos.failures} failed requests)`;
  const ratio = custos.rps / base.rps;
  if (s.target.minRatio !== undefined && ratio < s.target.minRatio)
    return `MISS (target ≥ ${pct(s.target.minRatio)})`;
  if (s.target.minRps !== undefined && custos.rps < s.target.minRps)
    return `MISS (target ≥ ${s.target.minRps} req/s)`;
  const cpuBound = s.target.maxCpuRatio;
  const cpuTimes = (custos.cpuUs + custos.dbCpuUs) / (base.cpuUs + base.dbCpuUs);
  const cpuTarget = cpuBound === undefined ? '' : `, CPU ≤ ${cpuBound}× bare`;
  if (cpuBound !== undefined && cpuTimes > cpuBound)
    return `MISS (CPU ${cpuTimes.toFixed(2)}× bare; target ≤ ${cpuBound}×)`;
  const share =
    s.target.minRatio !== undefined ? `≥ ${pct(s.target.minRatio)}` : `≥ ${s.target.minRps} req/s`;
  return `ok (target ${share}${cpuTarget}${cpuBound === undefined ? '' : `: ${cpuTimes.toFixed(2)}×`})`;
}

const pct = (x: number) => `${Math.round(x * 100)} %`;
/** Beside a verdict: to a tenth, so that 44.8 % does not read "45 %   MISS (target ≥ 45 %)". */
const pctBesideVerdict = (x: number) => `${(x * 100).toFixed(1)} %`;
const int = (x: number) => Math.round(x).toLocaleString('en');
const cpu = (m: Measured) =>
  `server CPU ${Math.round(m.cpuUs).toString().padStart(4)} µs/req${m.dbCpuUs > 0 ? ` + database ${Math.round(m.dbCpuUs)} µs/req` : ''}`;
const fmt = (m: Measured) =>
  `${Math.round(m.rps).toString().padStart(7)} req/s  p50 ${m.p50.toFixed(1).padStart(5)} ms  p99 ${m.p99.toFixed(1).padStart(6)} ms  ${cpu(m)}  load ${Math.round(m.loadCpuUs).toString().padStart(3)} µs/req  ${m.failures} failed${perProcess(m)}`;
/** Each process's server CPU per request (the database's included), when a kind has several. */
const perProcess = (m: Measured) =>
  m.perProcessCpuUs.length > 1
    ? `  (each process's rounds ${m.perProcessCpuUs.map((us) => Math.round(us)).join(' / ')} µs)`
    : '';
const mb = (bytes: number) => `${(bytes / 1e6).toLocaleString('en', { maximumFractionDigits: 0 })} MB`;

interface Row {
  name: string;
  custos: Measured;
  baseline: Measured;
  /** At scale: Custos on the small database, measured in the same rounds. */
  small?: Measured;
  /** At scale: a row shown for what it tells, with no target to meet. */
  untargeted?: boolean;
  verdict: string;
}

/** The scenarios measured again on the big database: the hot paths whose cost must not grow with it. */
const HOT_PATHS = [consentConfigGet.name, consentPost.name, singleUser.name];
/**
 * At scale, consent-config/get also asks about people drawn at random from the seeded
 * million, one fresh draw per request; the small database beside it holds none of them. No
 * target: the issue's rows are the three above.
 */
const RANDOM_READ = 'consent-config/get, people drawn at random';

/*
 * Two measurements taken minutes apart differ by the machine's drift in between as much as
 * by what they measure. What is compared is therefore served side by side and measured in
 * the same alternating rounds: at scale, the small database beside the big one; across
 * engines, SQLite's database (from its run) beside PostgreSQL's.
 */
/** PostgreSQL's req/s as a share of SQLite's, measured side by side. */
const crossShare = (r: CrossRow) => r.postgres.rps / r.sqlite.rps;
const within10 = (x: number) => (Math.abs(x - 1) <= 0.1 ? 'ok' : 'MISS');
/** At scale: CPU per request (the database's included) on the big database over the small one beside it. */
const scaleDrift = (r: Row) =>
  r.small ? (r.custos.cpuUs + r.custos.dbCpuUs) / (r.small.cpuUs + r.small.dbCpuUs) : Number.NaN;

/** A read measured on both engines side by side, in the same alternating rounds. */
interface CrossRow {
  name: string;
  baseline: Measured;
  sqlite: Measured;
  postgres: Measured;
}

/** The reads compared across engines. */
const READS = [consentConfigGet.name, singleUser.name, bulkUsers.name];

/**
 * SQLite's database as its scenarios left it (before any scale seeding), with what serves
 * it and the requests its scenarios made: PostgreSQL's run serves it again beside its own.
 */
let sqliteSmall:
  | { url: string; env: Record<string, string>; requests: Map<string, BenchRequest> }
  | undefined;

interface EngineRun {
  engine: Engine;
  rows: Row[];
  scaleRows: Row[];
  /** PostgreSQL, after SQLite in the same run: the reads on both, side by side. */
  crossRows: CrossRow[];
  seeding?: SeedReport & ScaleSizes;
  lags: number[];
  /** How long each of the 202 → visible probe's reads took, under the same load. */
  probeReads: number[];
  /** The bytes-per-stored-consent lines (bench/storage.ts). */
  storage?: string;
  /** `--ladder`: consent-config/get from the bare route up to Custos, layer by layer. */
  ladder?: LadderStep[];
}

interface LadderStep {
  name: string;
  measured: Measured;
}

const LADDER = [
  { layer: 'schemas', label: '+ body validation, response schema' },
  { layer: 'observed', label: '+ request log line, HTTP metrics' },
] as const;

/**
 * consent-config/get on the bare route, on Custos's own request path with its layers
 * switched on one by one (bench/ladder-server.ts), and on Custos, side by side: what each
 * layer costs, and what is left for the principal check, the country and the database read.
 */
async function measureLadder(baseline: Fleet, custos: Fleet, request: BenchRequest): Promise<LadderStep[]> {
  console.log('\nconsent-config/get, layer by layer, side by side');
  const layers: Fleet[] = [];
  try {
    for (const { layer } of LADDER)
      layers.push(
        await startFleet(`ladder-${layer}`, [...profileArgs, '--import', 'tsx', 'bench/ladder-server.ts'], {
          BENCH_LADDER: layer,
        }),
      );
    for (const fleet of layers) await settleFleet(fleet);
    const measured = await alternate([
      {
        targets: baseline.targets,
        request: { ...request, path: `/baseline/${slug(consentConfigGet.name)}` },
      },
      ...layers.map((fleet) => ({ targets: fleet.targets, request })),
      { targets: custos.targets, request },
    ]);
    const names = ['bare route', ...LADDER.map((l) => l.label), 'Custos'];
    const steps = names.map((name, i) => ({ name, measured: measured[i] as Measured }));
    const bare = steps[0]?.measured as Measured;
    for (const step of steps)
      console.log(
        `  ${step.name.padEnd(38)} ${fmt(step.measured)}   ${pct(step.measured.rps / bare.rps)} of bare`,
      );
    return steps;
  } finally {
    for (const fleet of layers) await fleet.stop();
  }
}

function printRow(row: Row) {
  console.log(row.name);
  console.log(`  baseline  ${fmt(row.baseline)}`);
  console.log(
    `  custos    ${fmt(row.custos)}   ratio ${pctBesideVerdict(row.custos.rps / row.baseline.rps)}   ${row.verdict}`,
  );
}

async function runEngine(engine: Engine): Promise<EngineRun> {
  const database = await testDatabase(engine);
  const custosEnv = {
    DATABASE_URL: database.url,
    PORT: '0',
    LOG_LEVEL: 'info',
    CUSTOS_AUTO_MIGRATE: 'true',
    CUSTOS_ALLOW_PRIVATE_WEBHOOKS: 'true',
    // The server and the seeding CLI must share the master key that protects stored secrets.
    CUSTOS_SECRET_KEY: randomBytes(32).toString('base64'),
    // Throughput, not the per-app budget, is measured: the report-accounts scenario is one app.
    CUSTOS_REPORT_RATE_LIMIT: '1000000',
  };
  const baselineBodies = Object.fromEntries(
    scenarios.map((s) => [slug(s.name), { status: s.status ?? 200, body: s.baselineBody }]),
  );
  const startBaselines = () =>
    startFleet(`baseline-${engine}`, ['--import', 'tsx', 'bench/baseline-server.ts'], {
      BENCH_BASELINE: JSON.stringify(baselineBodies),
    });
  const startCustos = () => startCustosFleet(`custos-${engine}`, custosEnv, database.backendPids);
  let baseline = noFleet;
  let custos = noFleet;
  /**
   * A process slows as it serves one scenario after another (the bare route's, from 29 to
   * 49 µs a request within one run): each comparison starts on fresh servers of both kinds.
   */
  const freshServers = async () => {
    await baseline.stop();
    await custos.stop();
    baseline = await startBaselines();
    custos = await startCustos();
    await settleFleet(custos);
  };
  let smallFleet: Fleet | undefined;
  const copies: TestDatabase[] = [];
  const env: BenchEnv = {
    get baseUrl() {
      return (custos.targets[0] as Target).url;
    },
    databaseUrl: database.url,
    cli: async (args) =>
      (
        await exec(process.execPath, ['dist/cli.js', ...args], {
          cwd: root,
          env: { ...process.env, ...custosEnv },
        })
      ).stdout,
  };
  const run: EngineRun = { engine, rows: [], scaleRows: [], crossRows: [], lags: [], probeReads: [] };
  const requests = new Map<string, BenchRequest>();
  const measure = async (scenario: BenchScenario, request: BenchRequest): Promise<Row> => {
    const baseRequest: BenchRequest = { ...request, path: `/baseline/${slug(scenario.name)}` };
    const lagRound =
      scenario === consentPost && applying
        ? async (target: Target, round: Promise<unknown>) => {
            const { lags, reads } = await visibilityLag(
              target.url,
              await consentAuthorization(env.cli),
              round,
            );
            run.lags.push(...lags);
            run.probeReads.push(...reads);
          }
        : undefined;
    const measured = await compare(custos, request, baseline, baseRequest, lagRound);
    const row = {
      name: scenario.name,
      ...measured,
      verdict: verdict(scenario, measured.custos, measured.baseline),
    };
    printRow(row);
    return row;
  };
  try {
    baseline = await startBaselines();
    custos = await startCustos();
    console.log(
      `Custos benchmark on ${engine}: ${connections} connections, ${processes} processes of each kind, ${duration} s per process and measurement in ${rounds} rounds taking turns with the baseline\n`,
    );
    if (workerApart)
      console.log(
        'The servers apply nothing themselves (BENCH_WORKER=apart): a custos worker process beside each fleet does, its CPU counted as the fleet’s\n',
      );
    if (!applying)
      console.log(
        'Applying is off (CUSTOS_IN_PROCESS_WORKER=false): consents stay in the inbox, 202 → visible is not measured\n',
      );
    for (const scenario of selected) {
      const request = await scenario.setup(env);
      await database.analyze();
      requests.set(scenario.name, request);
      // Fresh servers, idle: the work a scenario leaves behind (the consents its POSTs queued,
      // applied after the load) is not measured as the next one's.
      await freshServers();
      run.rows.push(await measure(scenario, request));
    }
    const configRequest = requests.get(consentConfigGet.name);
    if (ladder && configRequest) {
      await freshServers();
      run.ladder = await measureLadder(baseline, custos, configRequest);
    }
    if (engine === 'sqlite' && engines.includes('postgres')) {
      // The database as the scenarios left it, for PostgreSQL's run to serve beside its own.
      await custos.stop();
      sqliteSmall = { url: (await database.copy('cross')).url, env: custosEnv, requests };
      custos = await startCustos();
      await settleFleet(custos);
    }
    if (run.lags.length > 0) {
      const p99 = percentile(run.lags, 99);
      console.log(
        `\n202 → visible in consent-config/get, under the consent POST load (${run.lags.length} samples): p50 ${percentile(run.lags, 50).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms   ${p99 < 100 ? 'ok' : 'MISS'} (target p99 < 100 ms)`,
      );
      console.log(
        `  each of the probe's reads under the same load (${run.probeReads.length}): p50 ${percentile(run.probeReads, 50).toFixed(1)} ms, p99 ${percentile(run.probeReads, 99).toFixed(1)} ms`,
      );
    }
    if (engine === 'postgres' && sqliteSmall) {
      const lite = sqliteSmall;
      const reads = selected.filter((s) => READS.includes(s.name) && lite.requests.has(s.name));
      if (reads.length > 0) {
        console.log('\nThe reads on SQLite and on PostgreSQL, side by side (SQLite’s database from its run)');
        for (const scenario of reads) {
          await freshServers();
          const sqlite = await startCustosFleet('custos-sqlite-beside-postgres', {
            ...lite.env,
            DATABASE_URL: lite.url,
          });
          try {
            await settleFleet(sqlite);
            const request = requests.get(scenario.name) as BenchRequest;
            const [base, onSqlite, onPostgres] = (await alternate([
              {
                targets: baseline.targets,
                request: { ...request, path: `/baseline/${slug(scenario.name)}` },
              },
              { targets: sqlite.targets, request: lite.requests.get(scenario.name) as BenchRequest },
              { targets: custos.targets, request },
            ])) as [Measured, Measured, Measured];
            const cross = { name: scenario.name, baseline: base, sqlite: onSqlite, postgres: onPostgres };
            run.crossRows.push(cross);
            console.log(scenario.name);
            console.log(`  baseline  ${fmt(base)}`);
            console.log(`  sqlite    ${fmt(onSqlite)}`);
            console.log(`  postgres  ${fmt(onPostgres)}`);
            console.log(
              `  PostgreSQL / SQLite: ${pctBesideVerdict(crossShare(cross))} of req/s   ${crossShare(cross) >= 0.8 ? 'ok' : 'MISS'} (target ≥ 80 %)`,
            );
          } finally {
            await sqlite.stop();
          }
        }
      }
    }
    // Before the scale seeding: dbstat reads every page of the database.
    // Storage is measured on applied consents; with applying off there are none.
    if (picked('storage') && applying) {
      run.storage = await measureStorage(env);
      console.log(`\n${run.storage}`);
    }
    if (scale) {
      const sizes = scaleSizes();
      console.log(
        `\nScale: seeding ${int(sizes.accounts)} accounts and ${int(sizes.events)} consent events (server stopped)`,
      );
      await custos.stop();
      // The small database as the scenarios left it, served beside the big one: at scale,
      // each hot path is measured against it in the same alternating rounds, so the
      // machine's drift while seeding is not read as the scale's cost.
      const small = await database.copy('small');
      copies.push(small);
      const seeding = await seedScale(database.url, sizes, (line) => console.log(line));
      // The seeding writes without fsync: what the kernel still has to write back would
      // otherwise be measured as the scale's cost.
      await settleDisk(database.url);
      run.seeding = { ...seeding, ...sizes };
      console.log(
        `  seeded in ${seeding.seconds.toFixed(0)} s; database ${mb(seeding.bytesBefore)} → ${mb(seeding.bytesAfter)} (+${mb(seeding.bytesAfter - seeding.bytesBefore)})\n`,
      );
      // Both started now, and so of one age for every scenario below.
      custos = await startCustos();
      smallFleet = await startCustosFleet(
        `custos-${engine}-small`,
        { ...custosEnv, DATABASE_URL: small.url },
        small.backendPids,
      );
      const atScale = selected
        .filter((s) => HOT_PATHS.includes(s.name))
        .map((s) => ({
          name: s.name,
          scenario: s,
          request: requests.get(s.name) as BenchRequest,
          untargeted: false,
        }));
      const configRequest = requests.get(consentConfigGet.name);
      if (configRequest?.body !== undefined) {
        // The same read of people drawn at random from the seeded ones: their pages are not
        // in the database's caches, as the benchmark's own people's are. (With fewer events
        // than accounts, BENCH_SCALE_EVENTS for a quick try, many of them have none.)
        const { userIp } = JSON.parse(configRequest.body) as { userIp: string };
        atScale.push({
          name: RANDOM_READ,
          scenario: consentConfigGet,
          untargeted: true,
          request: {
            ...configRequest,
            body: undefined,
            randomBody: {
              template: JSON.stringify({ email: SCALE_EMAIL_TEMPLATE, userIp }),
              below: sizes.accounts,
              digits: SCALE_INDEX_DIGITS,
            },
          },
        });
      }
      for (const { name, scenario, request, untargeted } of atScale) {
        // The start-up jobs over the big database, then the consents the POST rounds queued,
        // done before each scenario is measured.
        await settleFleet(custos);
        await settleFleet(smallFleet);
        await baseline.stop();
        baseline = await startBaselines();
        const [base, smallMeasured, big] = (await alternate([
          { targets: baseline.targets, request: { ...request, path: `/baseline/${slug(scenario.name)}` } },
          { targets: smallFleet.targets, request },
          { targets: custos.targets, request },
        ])) as [Measured, Measured, Measured];
        const row: Row = {
          name,
          custos: big,
          baseline: base,
          small: smallMeasured,
          untargeted,
          verdict: untargeted ? 'no target' : verdict(scenario, big, base),
        };
        printRow(row);
        console.log(`  small     ${fmt(smallMeasured)}   (the same database before the seeding, beside it)`);
        run.scaleRows.push(row);
        console.log(
          `  at scale / small, side by side: server CPU per request ${pctBesideVerdict(scaleDrift(row))}${engine === 'postgres' ? ' (the database’s included)' : ''}   ${row.untargeted ? '(no target)' : `${within10(scaleDrift(row))} (target within 10 %)`}`,
        );
      }
    }
    if (picked('console pages')) {
      console.log(`\n${await measureWebhookFanout(env)}`);
      // Last: it stores a million audit entries, which the scenarios above need not wade through.
      console.log(`\n${await measureConsolePages(env)}`);
    }
    return run;
  } finally {
    await baseline.stop();
    await custos.stop();
    await smallFleet?.stop();
    for (const copy of copies) await copy.drop();
    await database.drop();
  }
}

/**
 * The issue's table, every row from this one run. Rows that need `--scale` or
 * `--engine both` say so when they were not measured.
 */
function printSummary(runs: EngineRun[]) {
  const lines: string[] = [];
  for (const run of runs) {
    const row = (name: string, label: string) => {
      const r = run.rows.find((x) => x.name === name);
      if (r)
        lines.push(
          `${run.engine.padEnd(8)} ${label.padEnd(44)} ${int(r.custos.rps).padStart(7)} req/s, ${pct(r.custos.rps / r.baseline.rps)} of bare, ${cpu(r.custos)} (bare ${Math.round(r.baseline.cpuUs)} µs)`,
        );
    };
    row(consentConfigGet.name, 'consent-config/get');
    row(consentPost.name, 'durable consent POST');
    row(singleUser.name, 'GET /rest/api/3/user (Connect JWT)');
    row(reportAccounts.name, 'report-accounts, 90 ids');
    if (run.storage && run.engine === 'sqlite')
      lines.push(`${run.engine.padEnd(8)} ${run.storage.split('\n')[0]}`);
    if (run.seeding) {
      for (const big of run.scaleRows) {
        if (big.small) {
          lines.push(
            `${run.engine.padEnd(8)} ${`${int(run.seeding.events)} vs small events: ${big.name}`.padEnd(44)} CPU per request ${pctBesideVerdict(scaleDrift(big))} of the small database's, side by side (${Math.round(big.custos.cpuUs + big.custos.dbCpuUs)} / ${Math.round(big.small.cpuUs + big.small.dbCpuUs)} µs; bare ${Math.round(big.baseline.cpuUs)} µs)   ${big.untargeted ? 'no target' : within10(scaleDrift(big))}`,
          );
        }
      }
    } else lines.push(`${run.engine.padEnd(8)} at scale: not measured (--scale)`);
    const bare = run.ladder?.[0]?.measured;
    for (const step of run.ladder ?? [])
      lines.push(
        `${run.engine.padEnd(8)} ${`consent-config/get ${step.name}`.padEnd(44)} ${int(step.measured.rps).padStart(7)} req/s, ${pct(step.measured.rps / (bare as Measured).rps)} of bare, ${cpu(step.measured)}`,
      );
  }
  const postgresRun = runs.find((r) => r.engine === 'postgres');
  for (const cross of postgresRun?.crossRows ?? []) {
    lines.push(
      `PostgreSQL / SQLite reads, side by side: ${cross.name.padEnd(28)} ${pctBesideVerdict(crossShare(cross))} of req/s (${int(cross.postgres.rps)} / ${int(cross.sqlite.rps)}); CPU per request ${Math.round(cross.postgres.cpuUs)} + database ${Math.round(cross.postgres.dbCpuUs)} µs / ${Math.round(cross.sqlite.cpuUs)} µs; bare ${Math.round(cross.baseline.cpuUs)} µs   ${crossShare(cross) >= 0.8 ? 'ok' : 'MISS'} (target ≥ 80 %)`,
    );
  }
  if (!postgresRun?.crossRows.length) lines.push('PostgreSQL / SQLite reads: not measured (--engine both)');
  console.log(`\nSummary\n${lines.join('\n')}`);
}

async function main() {
  const runs: EngineRun[] = [];
  try {
    for (const engine of engines) {
      runs.push(await runEngine(engine));
      console.log('');
    }
    printSummary(runs);
    mkdirSync(join(root, 'bench/results'), { recursive: true });
    const file = join(
      root,
      'bench/results',
      `${new Date().toISOString().replace(/[:.]/g, '-')}-${engineOption}${scale ? '-scale' : ''}.json`,
    );
    writeFileSync(
      file,
      JSON.stringify(
        {
          duration,
          rounds,
          connections,
          processes,
          applying,
          worker: workerApart ? 'apart' : 'in-process',
          runs,
        },
        null,
        2,
      ),
    );
    console.log(`\nResults written to ${file.slice(root.length)}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
