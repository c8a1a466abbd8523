import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { measureConsolePages } from './console-pages.js';
import type { BenchEnv, BenchRequest, BenchScenario } from './scenario.js';
import { consentAuthorization, GMOI_TEXT } from './scenarios/consent.js';
import { scenarios } from './scenarios/index.js';
import { measureStorage } from './storage.js';
import { measureWebhookFanout } from './webhook-fanout.js';

/**
 * `npm run bench [-- --engine postgres] [--only <name part>]`: starts Custos (built, logging and metrics on) and
 * a bare Fastify baseline as separate processes, loads each scenario against both in the
 * same run, and prints throughput and latency side by side with the ratio to baseline.
 */
const engine = process.argv.includes('--engine')
  ? process.argv[process.argv.indexOf('--engine') + 1]
  : 'sqlite';
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const selected = only ? scenarios.filter((s) => s.name.includes(only)) : scenarios;
const duration = Number(process.env.BENCH_DURATION ?? 10);
// BENCH_CPU_PROFILE=<dir>: write a V8 CPU profile of the Custos server there, for finding where time goes.
const profileArgs = process.env.BENCH_CPU_PROFILE
  ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROFILE}`]
  : [];
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32);
const adminPostgresUrl = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const root = new URL('..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'custos-bench-'));
const exec = promisify(execFile);

interface Measured {
  rps: number;
  /** Server CPU time per request (user + system), in µs: steadier than req/s on a shared machine. */
  cpuUs: number;
  p50: number;
  p99: number;
  failures: number;
}

function startProcess(
  args: string[],
  env: Record<string, string>,
  logFile: string,
): Promise<{ child: ChildProcess; url: string }> {
  const out = openSync(logFile, 'w');
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', out, out],
  });
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      const match = /listening on (http:\/\/\S+)/.exec(readFileSync(logFile, 'utf8'));
      if (match?.[1]) {
        clearInterval(poll);
        resolve({ child, url: match[1] });
      } else if (child.exitCode !== null || Date.now() - started > 30_000) {
        clearInterval(poll);
        reject(new Error(`process did not start: ${readFileSync(logFile, 'utf8')}`));
      }
    }, 50);
  });
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number | undefined): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function load(
  url: string,
  request: BenchRequest,
  seconds: number,
  server: ChildProcess,
): Promise<Measured> {
  const cpuBefore = cpuSeconds(server.pid);
  const result = await autocannon({
    url,
    connections,
    duration: seconds,
    requests: [
      {
        method: request.method,
        path: request.path,
        headers: request.headers,
        body: request.body,
        setupRequest: (req) => ({
          ...req,
          ...(request.headersFor ? { headers: { ...request.headers, ...request.headersFor() } } : {}),
          ...(request.bodyFor ? { body: request.bodyFor() } : {}),
        }),
      },
    ],
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failures: result.non2xx + result.errors + result.timeouts,
    cpuUs: ((cpuSeconds(server.pid) - cpuBefore) * 1e6) / Math.max(1, result.requests.total),
  };
}

async function databaseUrl(): Promise<{ url: string; drop(): Promise<void> }> {
  if (engine === 'sqlite') return { url: `sqlite:${join(work, 'custos.db')}`, drop: async () => {} };
  const name = `custos_bench_${process.pid}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: adminPostgresUrl });
    await client.connect();
    await client.query(sql).finally(() => client.end());
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(adminPostgresUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/** Time from a 202 to the change showing in consent-config/get, sampled while `busy` runs. */
async function visibilityLag(baseUrl: string, auth: string, busy: Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  const headers = { authorization: auth, 'content-type': 'application/json' };
  let granted = false;
  let running = true;
  busy.finally(() => {
    running = false;
  });
  while (running) {
    granted = !granted;
    const res = await fetch(`${baseUrl}/consent-hub/consent`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        email: 'probe@example.com',
        locale: 'GB',
        consents: [
          { key: 'generalMarketingOptIn', granted, ...(granted ? { displayedText: GMOI_TEXT } : {}) },
        ],
      }),
    });
    await res.arrayBuffer();
    const accepted = performance.now();
    for (;;) {
      const check = await fetch(`${baseUrl}/consent-hub/consent-config/get`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ email: 'probe@example.com' }),
      });
      const body = (await check.json()) as { usersChoiceOnMarketingCommunicationOptIn: boolean };
      if (body.usersChoiceOnMarketingCommunicationOptIn === granted) break;
    }
    samples.push(performance.now() - accepted);
    await new Promise((r) => setTimeout(r, 20));
  }
  return samples;
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
  return `ok (target ${s.target.minRatio !== undefined ? `≥ ${pct(s.target.minRatio)}` : `≥ ${s.target.minRps} req/s`})`;
}

const pct = (x: number) => `${Math.round(x * 100)} %`;
const fmt = (m: Measured) =>
  `${Math.round(m.rps).toString().padStart(7)} req/s  p50 ${m.p50.toFixed(1).padStart(5)} ms  p99 ${m.p99.toFixed(1).padStart(6)} ms  server CPU ${Math.round(m.cpuUs).toString().padStart(4)} µs/req`;

async function main() {
  const database = await databaseUrl();
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
  const baseline = await startProcess(
    ['--import', 'tsx', 'bench/baseline-server.ts'],
    { BENCH_BASELINE: JSON.stringify(baselineBodies) },
    join(work, 'baseline.log'),
  );
  const custos = await startProcess(
    [...profileArgs, 'dist/cli.js', 'serve'],
    custosEnv,
    join(work, 'custos.log'),
  );
  const env: BenchEnv = {
    baseUrl: custos.url,
    databaseUrl: database.url,
    cli: async (args) =>
      (
        await exec(process.execPath, ['dist/cli.js', ...args], {
          cwd: root,
          env: { ...process.env, ...custosEnv },
        })
      ).stdout,
  };

  const rows: { name: string; custos: Measured; baseline: Measured; verdict: string }[] = [];
  let lags: number[] = [];
  try {
    console.log(
      `Custos benchmark on ${engine}: ${connections} connections, ${duration} s per measurement, same-run baseline\n`,
    );
    for (const scenario of selected) {
      const request = await scenario.setup(env);
      const baseRequest = { ...request, path: `/baseline/${slug(scenario.name)}` };
      await load(baseline.url, baseRequest, 2, baseline.child);
      const base = await load(baseline.url, baseRequest, duration, baseline.child);
      await load(custos.url, request, 2, custos.child);
      const isConsentPost = scenario.name.startsWith('consent POST');
      const measured = load(custos.url, request, duration, custos.child);
      const lagRun = isConsentPost
        ? visibilityLag(custos.url, await consentAuthorization(env.cli), measured)
        : undefined;
      const result = await measured;
      if (lagRun) lags = await lagRun;
      const row = {
        name: scenario.name,
        custos: result,
        baseline: base,
        verdict: verdict(scenario, result, base),
      };
      rows.push(row);
      console.log(`${scenario.name}`);
      console.log(`  baseline  ${fmt(base)}`);
      console.log(
        `  custos    ${fmt(result)}   ratio ${pct(result.rps / base.rps)} (CPU per request: ${pct(base.cpuUs / result.cpuUs)} of baseline's efficiency)   ${row.verdict}`,
      );
    }
    if (lags.length > 0) {
      const p99 = percentile(lags, 99);
      console.log(
        `\n202 → visible in consent-config/get, under the consent POST load (${lags.length} samples): p50 ${percentile(lags, 50).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms   ${p99 < 100 ? 'ok' : 'MISS'} (target p99 < 100 ms)`,
      );
    }
    if (!only || 'storage'.includes(only)) console.log(`\n${await measureStorage(env)}`);
    console.log(`\n${await measureWebhookFanout(env)}`);
    // Last: it stores a million audit entries, which the scenarios above need not wade through.
    if (!only || 'console pages'.includes(only)) console.log(`\n${await measureConsolePages(env)}`);
    mkdirSync(join(root, 'bench/results'), { recursive: true });
    const file = join(
      root,
      'bench/results',
      `${new Date().toISOString().replace(/[:.]/g, '-')}-${engine}.json`,
    );
    writeFileSync(
      file,
      JSON.stringify({ engine, duration, connections, rows, visibilityLagMs: lags }, null, 2),
    );
    console.log(`\nResults written to ${file.slice(root.length)}`);
  } finally {
    baseline.child.kill('SIGTERM');
    custos.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    await database.drop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
