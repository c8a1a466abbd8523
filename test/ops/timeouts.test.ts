import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consentClient, createTestApp, GMOI_TEXT, type TestApp } from '../helpers/app.js';

// Small limits so that the test sees them act; the margins below allow for a loaded machine.
const BODY_TIMEOUT_MS = 1000;
const HEADERS_TIMEOUT_MS = 1000;
const REQUEST_TIMEOUT_MS = 3000;
const KEEP_ALIVE_TIMEOUT_MS = 2000;
/** Node keeps an idle connection this much longer than the keep-alive timeout it announces. */
const KEEP_ALIVE_GRACE_MS = 1000;
const MAX_CONNECTIONS = 20;
const SLACK_MS = 3000;

let t: TestApp;
let port: number;
let auth: string;

beforeAll(async () => {
  t = await createTestApp({
    CUSTOS_BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS),
    CUSTOS_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
    CUSTOS_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
    CUSTOS_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
    CUSTOS_KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_TIMEOUT_MS),
  });
  auth = (await consentClient(t)).authorization;
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  const address = t.app.server.address();
  if (!address || typeof address === 'string') throw new Error('not listening');
  port = address.port;
});
afterAll(() => t?.close());

interface Raw {
  socket: Socket;
  /** Resolves when the server closes the connection: what it answered, and after how long. */
  closed: Promise<{ elapsedMs: number; response: string }>;
}

/** A client that writes `first`, then `more` one piece every `everyMs`, and reads whatever comes back. */
function rawClient(first: string, more: string[] = [], everyMs = 0): Raw {
  const started = Date.now();
  const socket = connect(port, '127.0.0.1', () => socket.write(first));
  let response = '';
  let next = 0;
  const trickle = more.length
    ? setInterval(() => {
        if (next < more.length && !socket.destroyed) socket.write(more[next++] as string);
      }, everyMs)
    : undefined;
  socket.on('data', (chunk) => {
    response += chunk;
  });
  socket.on('error', () => {});
  const closed = new Promise<{ elapsedMs: number; response: string }>((resolve) =>
    socket.on('close', () => {
      clearInterval(trickle);
      resolve({ elapsedMs: Date.now() - started, response });
    }),
  );
  return { socket, closed };
}

function bodyOf(response: string): unknown {
  return JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4));
}

const consentHead = (length: number) =>
  `POST /consent-hub/consent HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${auth}\r\n` +
  `Content-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;

const consentBody = JSON.stringify({
  email: 'slow@example.com',
  locale: 'US',
  consents: [{ key: 'generalMarketingOptIn', granted: true, displayedText: GMOI_TEXT }],
});

/** Other clients keep being answered, promptly, while `until` is pending. */
async function servedMeanwhile(until: Promise<unknown>): Promise<number> {
  let answered = 0;
  let done = false;
  until.then(() => {
    done = true;
  });
  while (!done) {
    const started = Date.now();
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1000);
    answered++;
    await new Promise((r) => setTimeout(r, 100));
  }
  return answered;
}

async function droppedCount(reason: string): Promise<number> {
  const text = (await t.app.inject('/metrics')).body;
  const match = new RegExp(`custos_http_dropped_connections_total\\{reason="${reason}"\\} (\\d+)`).exec(text);
  return Number(match?.[1] ?? 0);
}

/** The server answered 408 with `message` and closed the connection, `limitMs` after it opened. */
function expectCut(result: { elapsedMs: number; response: string }, limitMs: number, message: string) {
  expect(result.elapsedMs).toBeGreaterThanOrEqual(limitMs - 50);
  expect(result.elapsedMs).toBeLessThan(limitMs + SLACK_MS);
  expect(result.response).toMatch(/^HTTP\/1\.1 408 /);
  expect(bodyOf(result.response)).toEqual({ errorType: 'REQUEST_TIMEOUT', errorMessage: message });
}

describe('timeouts and the connection cap, over real connections', () => {
  it('cuts a stalled body after the body timeout with a 408, while other clients are served', async () => {
    const stalled = rawClient(consentHead(consentBody.length) + consentBody.slice(0, 20));
    const [result, answered] = await Promise.all([stalled.closed, servedMeanwhile(stalled.closed)]);
    expectCut(result, BODY_TIMEOUT_MS, 'The request body stalled');
    expect(answered).toBeGreaterThan(2);
    expect(await droppedCount('body_timeout')).toBeGreaterThanOrEqual(1);
  });

  it('cuts a body trickled faster than the body timeout at the request timeout', async () => {
    const bytes = consentBody.split('');
    const trickled = rawClient(consentHead(consentBody.length), bytes, BODY_TIMEOUT_MS / 4);
    const [result, answered] = await Promise.all([trickled.closed, servedMeanwhile(trickled.closed)]);
    // Well past the body timeout (the trickle kept it alive), and cut by the request timeout.
    expectCut(result, REQUEST_TIMEOUT_MS, 'The request was not received in time');
    expect(answered).toBeGreaterThan(5);
  });

  it('answers a body that arrives in pieces with pauses shorter than the body timeout', async () => {
    const pieces = [consentBody.slice(0, 40), consentBody.slice(40, 80), consentBody.slice(80)];
    const slow = rawClient(consentHead(consentBody.length), pieces, BODY_TIMEOUT_MS * 0.6);
    slow.socket.on('data', () => slow.socket.end());
    const result = await slow.closed;
    expect(result.response).toMatch(/^HTTP\/1\.1 202 /);
  });

  it('keeps a connection open after its answer until the keep-alive timeout, then closes it', async () => {
    const pieces = [consentBody.slice(0, 40), consentBody.slice(40)];
    const client = rawClient(consentHead(consentBody.length), pieces, 100);
    let answeredAt = 0;
    client.socket.once('data', () => {
      answeredAt = Date.now();
    });
    const result = await client.closed;
    expect(result.response).toMatch(/^HTTP\/1\.1 202 /);
    expect(result.response).toContain(`Keep-Alive: timeout=${KEEP_ALIVE_TIMEOUT_MS / 1000}`);
    // Closed for idleness, without a second answer: neither cut by the body timeout nor kept forever.
    const idleMs = Date.now() - answeredAt;
    expect(idleMs).toBeGreaterThanOrEqual(KEEP_ALIVE_TIMEOUT_MS - 50);
    expect(idleMs).toBeLessThan(KEEP_ALIVE_TIMEOUT_MS + KEEP_ALIVE_GRACE_MS + SLACK_MS);
    expect(result.response.match(/HTTP\/1\.1/g)).toHaveLength(1);
  });

  it('cuts a connection whose headers never finish after the headers timeout', async () => {
    const before = await droppedCount('request_timeout');
    const idle = rawClient('GET /healthz HTTP/1.1\r\nHost: localhost\r\n');
    expectCut(await idle.closed, HEADERS_TIMEOUT_MS, 'The request was not received in time');
    expect(await droppedCount('request_timeout')).toBeGreaterThan(before);
  });

  it('answers malformed HTTP with a 400 in the error shape', async () => {
    const result = await rawClient('NOT HTTP AT ALL\r\n\r\n').closed;
    expect(result.response).toMatch(/^HTTP\/1\.1 400 /);
    expect(bodyOf(result.response)).toEqual({
      errorType: 'VALIDATION_FAILED',
      errorMessage: 'Malformed HTTP request',
    });
  });

  it('answers an HTTP/1.1 request without Host with a 400 naming the field (RFC 9112 §3.2)', async () => {
    const missing = await rawClient('GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n').closed;
    expect(missing.response).toMatch(/^HTTP\/1\.1 400 /);
    expect(bodyOf(missing.response)).toEqual({
      errorType: 'VALIDATION_FAILED',
      errorMessage: 'host: the Host header is required',
      field: 'host',
    });
    // HTTP/1.0 has no such rule.
    const old = await rawClient('GET /healthz HTTP/1.0\r\n\r\n').closed;
    expect(old.response).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('at the connection cap, closes the oldest stalled connections so that new clients are served', async () => {
    const before = await droppedCount('evicted');
    const stalled = Array.from({ length: MAX_CONNECTIONS + 10 }, () =>
      rawClient(consentHead(consentBody.length)),
    );
    await Promise.all(stalled.map((s) => new Promise((r) => s.socket.once('connect', r))));
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(res.status).toBe(200);
    }
    // The first ones opened were the ones closed.
    const results = await Promise.all(stalled.slice(0, 10).map((s) => s.closed));
    for (const r of results) expect(r.elapsedMs).toBeLessThan(BODY_TIMEOUT_MS);
    expect(await droppedCount('evicted')).toBeGreaterThanOrEqual(before + 10);
    for (const s of stalled) s.socket.destroy();
  });

  it('logs dropped connections as counts, without client addresses', () => {
    const lines = t.logs.filter((l) => l.includes('closed client connections'));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0]).toMatch(/"dropped":\{"body_timeout":1\}/);
    // (Fastify's own "Server listening at" line names the server's address, not a client's.)
    for (const line of t.logs.filter((l) => !l.includes('Server listening'))) {
      expect(line).not.toContain('127.0.0.1');
    }
  });

  it('stops promptly with stalled connections open: they cannot be answered, so they are closed', async () => {
    const stalled = rawClient(consentHead(consentBody.length));
    await new Promise((r) => stalled.socket.once('connect', r));
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await t.app.close();
    expect(Date.now() - started).toBeLessThan(BODY_TIMEOUT_MS);
    await stalled.closed;
  });
});
