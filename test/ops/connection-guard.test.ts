import { connect, type Socket } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionGuard, connectionGuardPlugin } from '../../src/ops/connection-guard.js';
import { Metrics } from '../../src/ops/metrics.js';
import { until } from '../helpers/wait.js';

/**
 * The guard's cap policy on a Fastify app of its own whose route holds every answer, so
 * that "waiting for its answer" connections can be made at will.
 */
let app: FastifyInstance;
/** The held answers: each sends its body when called. */
const held: ((body: string) => void)[] = [];
let metrics: Metrics;
const clients: Socket[] = [];

async function start(maxConnections: number, bodyTimeoutMs = 60_000): Promise<number> {
  metrics = new Metrics(
    async () => 0,
    async () => [],
  );
  const guard = new ConnectionGuard({ maxConnections, bodyTimeoutMs }, metrics, pino({ level: 'silent' }));
  app = Fastify({ clientErrorHandler: guard.onClientError });
  await app.register(connectionGuardPlugin, { guard });
  // Fastify reads the whole body before the handler: an answer is held once the request is in.
  const work = () => new Promise<string>((resolve) => held.push(resolve));
  app.get('/work', work);
  app.post('/work', work);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const answer of held.splice(0)) answer('');
  await app.close();
});

function client(port: number, request: string) {
  const socket = connect(port, '127.0.0.1', () => socket.write(request));
  clients.push(socket);
  let response = '';
  socket.on('data', (d) => {
    response += d;
  });
  socket.on('error', () => {});
  const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(response)));
  const connected = new Promise((resolve) => socket.once('connect', resolve));
  return { socket, closed, connected };
}

const complete = 'GET /work HTTP/1.1\r\nHost: localhost\r\n\r\n';
const stalled =
  'POST /work HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nabc';

async function dropped(reason: string): Promise<number> {
  const value = (await metrics.droppedConnections.get()).values.find((v) => v.labels.reason === reason);
  return value?.value ?? 0;
}

describe('the body timeout', () => {
  it('never cuts a request fully received while its answer is prepared', async () => {
    const port = await start(10, 200);
    const slowBody = client(port, stalled);
    await slowBody.connected;
    await new Promise((r) => setTimeout(r, 50));
    slowBody.socket.write('defghij');
    await until(() => held.length === 1);
    // Longer than the body timeout passes before the answer.
    await new Promise((r) => setTimeout(r, 600));
    held[0]?.('ok');
    slowBody.socket.end();
    expect(await slowBody.closed).toMatch(/^HTTP\/1\.1 200 /);
  });
});

describe('the connection cap', () => {
  it('closes the stalled connection, never one waiting for its answer, to admit a new one', async () => {
    const port = await start(3);
    const busy = [client(port, complete), client(port, complete)];
    await until(() => held.length === 2);
    const slow = client(port, stalled);
    await slow.connected;
    await new Promise((r) => setTimeout(r, 50));

    const newcomer = client(port, complete);
    await slow.closed;
    await until(() => held.length === 3);
    expect(await dropped('evicted')).toBe(1);

    // The busy ones still get their answers.
    for (const answer of held) answer('ok');
    for (const b of busy) b.socket.end();
    newcomer.socket.end();
    for (const answer of await Promise.all([...busy, newcomer].map((c) => c.closed))) {
      expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    }
  });

  it('refuses a new connection with a 503 when every open one is waiting for its answer', async () => {
    const port = await start(2);
    client(port, complete);
    client(port, complete);
    await until(() => held.length === 2);
    const refused = await client(port, complete).closed;
    expect(refused).toMatch(/^HTTP\/1\.1 503 /);
    expect(JSON.parse(refused.slice(refused.indexOf('\r\n\r\n') + 4))).toEqual({
      errorType: 'UNAVAILABLE',
      errorMessage: 'Too many connections; try again shortly',
    });
    expect(await dropped('refused')).toBe(1);
    expect((await metrics.openConnections.get()).values[0]?.value).toBe(2);
  });
});
