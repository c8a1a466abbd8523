import { Writable } from 'node:stream';
import Fastify from 'fastify';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { loggerOptions, RequestLogController } from '../../src/logger.js';

/** An app with Custos's logger options and log controller, its log lines captured. */
async function loggingApp(level = 'info') {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(String(chunk));
      callback();
    },
  });
  const log = pino(loggerOptions(level), sink);
  const app = Fastify({ loggerInstance: log, logController: new RequestLogController() });
  app.get('/people/:id', async () => ({ ok: true }));
  app.get('/broken', async () => {
    throw new Error('broken on purpose');
  });
  await app.ready();
  return { app, log, lines };
}

/** What pino itself writes for the same fields through the same options (time aside). */
function pinoLine(
  line: { reqId: string; req: { method: string; route: string }; res: { statusCode: number } } & {
    responseTime: number;
  },
) {
  const written: string[] = [];
  const twin = pino(
    loggerOptions('info'),
    new Writable({
      write(chunk, _encoding, callback) {
        written.push(String(chunk));
        callback();
      },
    }),
  ).child({ reqId: line.reqId });
  twin.info(
    {
      req: {
        method: line.req.method,
        routeOptions: line.req.route === 'unmatched' ? undefined : { url: line.req.route },
      },
      res: { statusCode: line.res.statusCode },
      responseTime: line.responseTime,
    },
    'request completed',
  );
  return written[0] as string;
}

const withoutTime = (line: string) => line.replace(/"time":\d+/, '"time":0');

describe('the request log line', () => {
  it('is byte for byte the line pino writes for the same fields', async () => {
    const { app, lines } = await loggingApp();
    try {
      await app.inject({ method: 'GET', url: '/people/ada@example.com?x=1' });
      await app.inject({ method: 'GET', url: '/broken' });
      await app.inject({ method: 'GET', url: '/nowhere' });
      const completed = lines.filter((l) => l.includes('"msg":"request completed"'));
      expect(completed).toHaveLength(3);
      for (const line of completed) {
        const parsed = JSON.parse(line);
        expect(line.endsWith('}\n')).toBe(true);
        // The child logger's bindings: the twin below is made with the same ones.
        expect(parsed).toMatchObject({ reqId: expect.stringMatching(/^req-/), pid: process.pid });
        expect(parsed.req.method).toBe('GET');
        expect(parsed.responseTime).toBeGreaterThan(0);
        expect(withoutTime(line)).toBe(withoutTime(pinoLine(parsed)));
      }
      const routes = completed.map((l) => JSON.parse(l).req.route);
      // The route pattern, never the URL (which may name a person).
      expect(routes).toEqual(['/people/:id', '/broken', 'unmatched']);
      expect(completed.join('')).not.toContain('ada@example.com');
      expect(completed.map((l) => JSON.parse(l).res.statusCode)).toEqual([200, 500, 404]);
    } finally {
      await app.close();
    }
  });

  it('goes through pino when the answer could not be sent, with the error serializer', async () => {
    const { log, lines } = await loggingApp();
    // Fastify reports a response stream's error here (a handler's error is answered, and
    // logged, by the error handler, then completes as above).
    const child = log.child({ reqId: 'req-9' });
    new RequestLogController().requestCompleted(
      new Error('socket hung up'),
      { method: 'GET', routeOptions: { url: '/people/:id' }, log: child } as never,
      { statusCode: 200, elapsedTime: 1.5, log: child } as never,
    );
    expect(JSON.parse(lines.at(-1) as string)).toMatchObject({
      level: 50,
      reqId: 'req-9',
      req: { method: 'GET', route: '/people/:id' },
      res: { statusCode: 200 },
      responseTime: 1.5,
      err: { type: 'Error', message: 'socket hung up' },
      msg: 'request errored',
    });
  });

  it("takes pino's own path to a stream that routes lines by level", async () => {
    const lines: string[] = [];
    const info = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(String(chunk));
        callback();
      },
    });
    const log = pino(loggerOptions('info'), pino.multistream([{ level: 'info', stream: info }]));
    const app = Fastify({ loggerInstance: log, logController: new RequestLogController() });
    app.get('/people/:id', async () => ({ ok: true }));
    try {
      await app.inject({ method: 'GET', url: '/people/1' });
      const completed = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request completed');
      expect(completed).toMatchObject([{ level: 30, req: { method: 'GET', route: '/people/:id' } }]);
    } finally {
      await app.close();
    }
  });

  it('is not written when the level is above info', async () => {
    const { app, lines } = await loggingApp('warn');
    try {
      await app.inject({ method: 'GET', url: '/people/1' });
      expect(lines.filter((l) => l.includes('request completed'))).toEqual([]);
    } finally {
      await app.close();
    }
  });
});
