import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from '../helpers/database.js';
import { databaseForProcesses, exited, startServe } from '../helpers/process.js';

const DESCRIPTOR_LIMIT = 1024;
const SLOW_CLIENTS = 1100;
const CAP = 900; // the default CUSTOS_MAX_CONNECTIONS

let database: TestDatabase;
let env: Record<string, string>;

beforeAll(async () => {
  ({ database, env } = await databaseForProcesses({
    // A key of its own: no key file in the work tree.
    CUSTOS_SECRET_KEY: randomBytes(32).toString('base64'),
    // Timeouts far longer than the test: only the connection cap stands between the slow
    // clients and the descriptor limit.
    CUSTOS_HEADERS_TIMEOUT_MS: '120000',
    CUSTOS_BODY_TIMEOUT_MS: '120000',
    CUSTOS_REQUEST_TIMEOUT_MS: '120000',
  }));
});
afterAll(() => database.drop());

/** A client that sends a request's headers and the start of its body, then nothing. */
function slowClient(port: number, sockets: Socket[]): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(
        'POST /oauth/token HTTP/1.1\r\nHost: localhost\r\n' +
          'Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=',
      );
      resolve();
    });
    socket.on('error', () => resolve());
    sockets.push(socket);
  });
}

describe('a crowd of slow clients', () => {
  it(`leaves /healthz answering with ${SLOW_CLIENTS} stalled connections under a ${DESCRIPTOR_LIMIT}-descriptor limit`, async () => {
    const { child, url } = await startServe(env, { maxOpenFiles: DESCRIPTOR_LIMIT });
    const sockets: Socket[] = [];
    try {
      const port = Number(new URL(url).port);
      for (let opened = 0; opened < SLOW_CLIENTS; opened += 100) {
        await Promise.all(Array.from({ length: 100 }, () => slowClient(port, sockets)));
      }
      for (let i = 0; i < 10; i++) {
        const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5000) });
        expect(res.status).toBe(200);
      }
      // The database still gets descriptors too.
      expect((await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5000) })).status).toBe(200);

      const metrics = await (await fetch(`${url}/metrics`)).text();
      const evicted = Number(
        /custos_http_dropped_connections_total\{reason="evicted"\} (\d+)/.exec(metrics)?.[1],
      );
      expect(evicted).toBeGreaterThanOrEqual(SLOW_CLIENTS - CAP);
      // Most slow clients were still held open while /healthz answered.
      await new Promise((r) => setTimeout(r, 200));
      expect(sockets.filter((s) => !s.destroyed && s.readyState === 'open').length).toBeGreaterThan(CAP - 50);
    } finally {
      for (const s of sockets) s.destroy();
      child.kill('SIGTERM');
    }
    expect(await exited(child)).toBe(0);
  });
});
