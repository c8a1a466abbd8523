import { type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { type ErrorCode, errorStatus } from '../errors/app-error.js';
import type { Metrics } from './metrics.js';

type DropReason = 'evicted' | 'refused' | 'body_timeout' | 'request_timeout' | 'bad_request';

interface Tracked {
  /** The exchange under way on this connection, until its response has been sent. */
  exchange?: { req: IncomingMessage; res: ServerResponse };
}

/** At most one log line per interval about dropped connections: an attack cannot flood the log. */
const DROP_LOG_INTERVAL_MS = 10_000;

/** Fastify options for the limits Node's HTTP server enforces itself. */
export function httpLimitOptions(config: Config) {
  const shorter = Math.min(config.headersTimeoutMs, config.requestTimeoutMs);
  return {
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    http: {
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: config.requestTimeoutMs,
      // Node checks these two timeouts on a timer, every 30 s by default, which would make a
      // 10 s limit anything up to 40 s; checking at a tenth of the shorter one keeps them close.
      connectionsCheckingInterval: Math.min(1000, Math.max(10, Math.floor(shorter / 10))),
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
  private pendingLog: Partial<Record<DropReason, number>> = {};
  private lastLogAt = Number.NEGATIVE_INFINITY;
  private logTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly limits: { maxConnections: number; bodyTimeoutMs: number },
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  attach(server: Server): void {
    server.on('connection', (socket: Socket) => this.admit(socket));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.track(req, res));
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
  closeUnbusy(): void {
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
    this.open.set(socket, {});
    this.metrics.openConnections.inc();
    socket.once('close', () => this.forget(socket));
  }

  private track(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    const tracked = this.open.get(socket);
    if (!tracked) return;
    const exchange = { req, res };
    tracked.exchange = exchange;
    res.once('finish', () => {
      if (tracked.exchange !== exchange || !this.open.has(socket)) return;
      tracked.exchange = undefined;
      // Idle again: to the back of the eviction order.
      this.open.delete(socket);
      this.open.set(socket, tracked);
    });
    if (req.complete) return;
    // The socket's idle timer restarts on every byte the parser reads, so this cuts a body
    // that pauses, not one that is merely long; a trickled body meets the request timeout.
    req.setTimeout(this.limits.bodyTimeoutMs, () =>
      this.cut(socket, 'body_timeout', 'REQUEST_TIMEOUT', 'The request body stalled'),
    );
    req.once('end', () => {
      // Once the response is sent, the timer is Node's keep-alive timeout: leave it.
      if (!res.writableFinished) socket.setTimeout(0);
    });
  }

  private cut(socket: Socket, reason: DropReason, code: ErrorCode, message: string): void {
    // An answer already on its way cannot be followed by another on the same connection.
    if (socket.writable && !this.open.get(socket)?.exchange?.res.headersSent) {
      socket.write(rawErrorResponse(code, message));
    }
    this.close(socket);
    this.dropped(reason);
  }

  /** A request fully received and not yet answered: closing it would lose the answer. */
  private isBusy(tracked: Tracked): boolean {
    return tracked.exchange?.req.complete === true;
  }

  private oldestUnbusy(): Socket | undefined {
    for (const [socket, tracked] of this.open) if (!this.isBusy(tracked)) return socket;
    return undefined;
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
