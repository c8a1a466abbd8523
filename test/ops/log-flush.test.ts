import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from '../helpers/database.js';
import { databaseForProcesses, exited, startServe } from '../helpers/process.js';
import { until } from '../helpers/wait.js';

let database: TestDatabase;
let env: Record<string, string>;

beforeAll(async () => {
  ({ database, env } = await databaseForProcesses({
    LOG_LEVEL: 'info',
    CUSTOS_SECRET_KEY: randomBytes(32).toString('base64'),
  }));
});
afterAll(() => database.drop());

/** The request log lines in a process's output. */
const requestLines = (output: string, route: string) =>
  output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg?: string; req?: { route?: string } })
    .filter((line) => line.msg === 'request completed' && line.req?.route === route);

/**
 * The log is written to stdout asynchronously, but never held back to fill a block: a lone
 * line comes out at once, and what is still queued when the process stops is written
 * before it exits.
 */
describe('the request log', () => {
  it('writes a lone line at once, and every line before the process exits', async () => {
    const { child, url, output } = await startServe(env);
    try {
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      await until(() => requestLines(output(), '/healthz').length === 1, {
        timeoutMs: 500,
        intervalMs: 20,
        message: 'the request log line',
      });

      // Lines written just before a graceful stop are flushed by it, not left in the buffer.
      for (let i = 0; i < 5; i++) expect((await fetch(`${url}/readyz`)).status).toBe(200);
      child.kill('SIGTERM');
      expect(await exited(child)).toBe(0);
      // The pipe may still hold what the process wrote as it exited; nothing more can come.
      await until(() => requestLines(output(), '/readyz').length === 5, {
        timeoutMs: 2000,
        intervalMs: 20,
        message: 'the lines written before the exit',
      });
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

describe('the log stream', () => {
  /** Runs a script against the log stream in a process of its own; its stdout's JSON lines. */
  function runScript(body: string) {
    const script = `
      import pino from 'pino';
      import { loggerOptions, stdoutDestination } from './src/logger.ts';
      const log = pino(loggerOptions('info'), stdoutDestination());
      ${body}
    `;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      encoding: 'utf8',
      timeout: 20_000,
    });
    const lines = run.stdout
      .trim()
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { msg: string; n?: number });
    return { run, messages: lines.map((l) => [l.msg, l.n]) };
  }

  it('writes the lines of the turn in which the process exits', () => {
    // Lines logged in the very turn that calls process.exit are still gathered for the
    // turn's end, which never comes: the exit writes them.
    const { run, messages } = runScript(`
      log.info('an earlier turn');
      setTimeout(() => {
        for (let n = 0; n < 3; n++) log.info({ n }, 'the last turn');
        process.exit(0);
      }, 20);
    `);
    expect(run.status, run.stderr).toBe(0);
    expect(messages).toEqual([
      ['an earlier turn', undefined],
      ['the last turn', 0],
      ['the last turn', 1],
      ['the last turn', 2],
    ]);
  });

  it('writes a fatal line, and what was logged before it, at once', () => {
    // pino flushes the stream synchronously after a fatal line: it is out even when the
    // process is killed right after (no exit handler runs).
    const { run, messages } = runScript(`
      log.info('before');
      log.fatal('fatal');
      process.kill(process.pid, 'SIGKILL');
    `);
    expect(run.signal).toBe('SIGKILL');
    expect(messages).toEqual([
      ['before', undefined],
      ['fatal', undefined],
    ]);
  });
});
