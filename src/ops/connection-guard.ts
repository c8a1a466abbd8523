import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { type ErrorCode, errorStatus } from '../errors/app-error.js';
import type { Metrics } from './metrics.js';

type DropReason = 'evicted' | 'refused' | 'body_timeout' | 'request_timeout' | 'bad_request';

interface Tracked {
  /** Its place in the eviction order: when it was admitted or last answered, counted in such events. */
  since: number;
  /** The request under way on this connection and its response, until the response is sent. */
  req?: IncomingMessage;
  res?: ServerResponse;
  /** The socket's bytesRead when a sweep last saw its request's body move; -1 before the first. */
  bytesSeen: number;
  /** When that was (ms since the epoch). */
  movedAt: number;
}

/** At most one log line per interval about dropped connections: an attack cannot flood the log. */
const DROP_LOG_INTERVAL_MS = 10_000;

/**
 * How often a timeout of `ms` is checked for: a tenth of it, at most a second. Node checks
 * its headers and request timeouts on a timer (every 30 s by default, which would make a
 * 10 s limit anything up to 40 s); the guard looks for stalled bodies the same way.
 */
function checkingInterval(ms: number): number {
  return Math.min(1000, Math.max(10, Math.floor(ms / 10)));
}

/** Fastify options for the limits Node's HTTP server enforces itself. */
export function httpLimitOptions(config: Config) {
  const shorter = Math.min(config.headersTimeoutMs, config.requestTimeoutMs);
  return {
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    http: {
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: config.requestTimeoutMs,
      connectionsCheckingInterval: checkingInterval(shorter),
      // Node would answer a missing Host with an empty 400; Custos answers it in its error
      // shape instead (app.ts).
      requireHostHeader: false,
    },
  };
}

/** An error answer written straight to a connection that no route is handling. */
function rawErrorResponse(code: ErrorCode, message: string): string {
  const status = errorStatus[code];
  const body = JSON.stringify({ errorType: code, errorMessage: message });
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

/**
 * Keeps slow and idle clients from exhausting the process. Open connections are capped below
 * the descriptor limit; at the cap the connection idle or stalled the longest is closed to
 * admit the new one, so a crowd of slow clients cannot lock out `/healthz` or real callers,
 * and only when every connection is waiting for its answer is a new one refused. A request
 * body that pauses longer than the body timeout is cut; Node's parser errors and its headers
 * and request timeouts are answered in the Custos error shape. Every drop is counted by
 * reason, and logged as counts only: a list of who was cut would be a list of addresses.
 */
export class ConnectionGuard {
  private readonly open = new Map<Socket, Tracked>();
  /** Connections admitted and answers sent so far: the clock of the eviction order. */
  private events = 0;
  private pendingLog: Partial<Record<DropReason, number>> = {};
  private lastLogAt = Number.NEGATIVE_INFINITY;
  private logTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly limits: { maxConnections: number; bodyTimeoutMs: number },
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /**
   * Wires the guard into the app, before any other hook: it sees every connection, and
   * every request that reaches Fastify's hooks from the first to its answer (not the 503s
   * Fastify gives itself while closing, nor its answers to unroutable URLs, which are sent at
   * once without reading a body). Nothing is added to a request or its socket (no listener,
   * no timer): a stalled body is found by a sweep of the open connections, which compares
   * what each one has read with what it had read before.
   */
  register(app: FastifyInstance): void {
    app.server.on('connection', (socket: Socket) => this.admit(socket));
    app.addHook('onRequest', (request, reply, done) => {
      this.track(request.raw, reply.raw);
      done();
    });
    app.addHook('onResponse', (request, reply, done) => {
      this.answered(request.raw.socket, reply.raw);
      done();
    });
    app.addHook('preClose', (done) => {
      this.closeUnbusy();
      done();
    });
    const sweep = setInterval(() => this.sweep(), checkingInterval(this.limits.bodyTimeoutMs)).unref();
    app.addHook('onClose', (_instance, done) => {
      clearInterval(sweep);
      done();
    });
  }

  /** Fastify's clientErrorHandler: Node's parser, or its headers or request timeout, gave up. */
  readonly onClientError = (error: NodeJS.ErrnoException, socket: Socket): void => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return; // the client went away by itself
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      this.cut(socket, 'request_timeout', 'REQUEST_TIMEOUT', 'The request was not received in time');
    } else if (error.code === 'HPE_HEADER_OVERFLOW') {
      this.cut(socket, 'bad_request', 'HEADERS_TOO_LARGE', 'Request headers are too large');
    } else {
      this.cut(socket, 'bad_request', 'VALIDATION_FAILED', 'Malformed HTTP request');
    }
  };

  /**
   * On shutdown, connections still sending a request (or idle) are closed: Node would wait for
   * them to finish, which a stalled client never does. Requests already received are answered.
   */
  private closeUnbusy(): void {
    for (const [socket, tracked] of this.open) {
      if (!this.isBusy(tracked)) this.close(socket);
    }
  }

  private admit(socket: Socket): void {
    if (this.open.size >= this.limits.maxConnections) {
      const victim = this.oldestUnbusy();
      if (!victim) {
        socket.end(rawErrorResponse('UNAVAILABLE', 'Too many connections; try again shortly'));
        socket.destroySoon();
        this.dropped('refused');
        return;
      }
      this.close(victim);
      this.dropped('evicted');
    }
    this.open.set(socket, { since: ++this.events, bytesSeen: -1, movedAt: 0 });
    this.metrics.openConnections.inc();
    socket.once('close', () => this.forget(socket));
  }

  private track(req: IncomingMessage, res: ServerResponse): void {
    const tracked = this.open.get(req.socket);
    if (!tracked) return;
    tracked.req = req;
    tracked.res = res;
    tracked.bytesSeen = -1;
  }

  private answered(socket: Socket, res: ServerResponse): void {
    const tracked = this.open.get(socket);
    // A later request on the same connection (pipelined) is under way: it is not answered.
    if (!tracked || tracked.res !== res) return;
    tracked.req = undefined;
    tracked.res = undefined;
    // Idle again: to the back of the eviction order.
    tracked.since = ++this.events;
  }

  /**
   * Cuts the connections whose request body has not moved for the body timeout. It counts
   * pauses, not length: a body still arriving, however slowly, is left to the request
   * timeout. A pause is counted from the first sweep that saw it, so none is cut sooner.
   */
  private sweep(): void {
    const now = Date.now();
    for (const [socket, tracked] of this.open) {
      if (!tracked.req || tracked.req.complete) continue;
      const bytesRead = socket.bytesRead;
      if (bytesRead !== tracked.bytesSeen) {
        tracked.bytesSeen = bytesRead;
        tracked.movedAt = now;
      } else if (now - tracked.movedAt >= this.limits.bodyTimeoutMs) {
        this.cut(socket, 'body_timeout', 'REQUEST_TIMEOUT', 'The request body stalled');
      }
    }
  }

  private cut(socket: Socket, reason: DropReason, code: ErrorCode, message: string): void {
    // An answer already on its way cannot be followed by another on the same connection.
    if (socket.writable && !this.open.get(socket)?.res?.headersSent) {
      socket.write(rawErrorResponse(code, message));
    }
    this.close(socket);
    this.dropped(reason);
  }

  /** A request fully received and not yet answered: closing it would lose the answer. */
  private isBusy(tracked: Tracked): boolean {
    return tracked.req?.complete === true;
  }

  /** Looked for only at the cap: a scan of the open connections costs less than keeping them in order. */
  private oldestUnbusy(): Socket | undefined {
    let oldest: Socket | undefined;
    let oldestSince = Number.POSITIVE_INFINITY;
    for (const [socket, tracked] of this.open) {
      if (tracked.since < oldestSince && !this.isBusy(tracked)) {
        oldest = socket;
        oldestSince = tracked.since;
      }
    }
    return oldest;
  }

  private close(socket: Socket): void {
    this.forget(socket);
    socket.destroy();
  }

  private forget(socket: Socket): void {
    if (this.open.delete(socket)) this.metrics.openConnections.dec();
  }

  private dropped(reason: DropReason): void {
    this.metrics.droppedConnections.inc({ reason });
    this.pendingLog[reason] = (this.pendingLog[reason] ?? 0) + 1;
    const wait = this.lastLogAt + DROP_LOG_INTERVAL_MS - Date.now();
    if (wait <= 0) this.flushLog();
    else this.logTimer ??= setTimeout(() => this.flushLog(), wait).unref();
  }

  private flushLog(): void {
    clearTimeout(this.logTimer);
    this.logTimer = undefined;
    this.lastLogAt = Date.now();
    this.log.warn({ dropped: this.pendingLog }, 'closed client connections');
    this.pendingLog = {};
  }
}

/**
 * The guard as a plugin of the app's root, to be registered before anything else, so that
 * its hooks run first on every request that has hooks, including those another hook then
 * refuses.
 */
export const connectionGuardPlugin = fp(async (app: FastifyInstance, { guard }: { guard: ConnectionGuard }) =>
  guard.register(app),
);
