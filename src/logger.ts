import { type FastifyBaseLogger, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import { type DestinationStream, destination, type Logger, type LoggerOptions, symbols } from 'pino';

/**
 * Logs must never carry personal data (emails, names, IP addresses) or secrets. Requests are
 * logged by route pattern only (no query string, no headers, no client address); a log call
 * that passes a field of one of these names has it censored as a second line of defence.
 */
// Top-level keys only: wildcard paths make every log line walk every object (measured at
// ~8 % of a request's CPU). Requests and errors are already reduced by the serializers below.
const redactPaths = [
  'email',
  'emailAddress',
  'userIp',
  'ip',
  'remoteAddress',
  'name',
  'displayName',
  'token',
  'secret',
  'authorization',
];

/** Error fields only: drivers put row values (possibly PD) in extra properties such as `detail`. */
function serializeError(err: Error & { code?: unknown }) {
  return { type: err.name, code: err.code, message: err.message, stack: err.stack };
}

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: redactPaths, censor: '[redacted]' },
    serializers: {
      req: (req: FastifyRequest) => ({ method: req.method, route: req.routeOptions?.url ?? 'unmatched' }),
      res: (res: FastifyReply) => ({ statusCode: res.statusCode }),
      err: serializeError,
    },
  };
}

/**
 * One log line per request, when it completes (method, route pattern, status, time), instead
 * of Fastify's two; the incoming line is kept at debug level for tracing.
 */
export class RequestLogController extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null, request: FastifyRequest, reply: FastifyReply): void {
    if (error) {
      reply.log.error(
        { req: request, res: reply, responseTime: reply.elapsedTime, err: error },
        'request errored',
      );
    } else if ((reply.log as unknown as Logger).isLevelEnabled('info')) {
      writeLine(reply.log, completedLine(reply.log, request, reply));
    }
  }
}

/** pino's own state of a logger, by the symbols pino exports for integrations. */
interface PinoState {
  [symbols.chindingsSym]: string;
  [symbols.streamSym]: { write(line: string): unknown };
}

const INFO = 30;

/**
 * The line pino writes for `info({ req, res, responseTime }, 'request completed')` with the
 * serializers above, byte for byte (test/ops/request-log.test.ts compares the two), made
 * directly: every field is a number or a string Custos chose (a method Node's parser
 * accepted, a route pattern, never a URL), so none needs pino's serializers or redaction.
 * On consent-config/get pino's generic path (each key looked up among the serializers and
 * redacted paths, each object through JSON.stringify) cost 5 % of the server's busy time
 * in a CPU profile under load, this line 2.5 % (README, Benchmarks).
 */
export function completedLine(log: FastifyBaseLogger, request: FastifyRequest, reply: FastifyReply): string {
  const bindings = (log as unknown as PinoState)[symbols.chindingsSym];
  const route = JSON.stringify(request.routeOptions?.url ?? 'unmatched');
  return `{"level":${INFO},"time":${Date.now()}${bindings},"req":{"method":${JSON.stringify(request.method)},"route":${route}},"res":{"statusCode":${reply.statusCode}},"responseTime":${reply.elapsedTime},"msg":"request completed"}\n`;
}

function writeLine(log: FastifyBaseLogger, line: string): void {
  (log as unknown as PinoState)[symbols.streamSym].write(line);
}

/**
 * The log's stream: stdout, written asynchronously. A request does not wait for its log
 * line's write: the lines logged in one turn of the event loop are handed to the writer
 * (pino's sonic-boom) together at the turn's end, and lines handed over while a write is
 * under way go out together in the next one. One hand-over per turn rather than per line:
 * sonic-boom measures the whole string it holds (`Buffer.byteLength`) each time it is given
 * more, which under load cost 2.5 % of the server's busy time in a CPU profile (0.1 %
 * batched). Nothing is held back longer: a lone line is written in the turn that logged it
 * (4 KB blocks flushed at least every 10 ms measured the same as this, within the noise,
 * and held-back lines would be lost on an abort: out of memory, SIGKILL). What is still
 * queued when the process exits (a signal's shutdown, a fatal start-up error) is handed over
 * and written synchronously.
 */
export function stdoutDestination(): DestinationStream {
  const writer = destination({ dest: 1, sync: false });
  let lines: string[] = [];
  let scheduled = false;
  const handOver = () => {
    scheduled = false;
    if (lines.length === 0) return;
    const text = lines.length === 1 ? (lines[0] as string) : lines.join('');
    lines = [];
    writer.write(text);
  };
  process.on('exit', () => {
    handOver();
    // pino's own exit hook flushes the writer too; whichever runs first writes it all.
    try {
      writer.flushSync();
    } catch {
      // Already closed: nothing more can be written.
    }
  });
  return {
    write(line: string) {
      lines.push(line);
      if (!scheduled) {
        scheduled = true;
        setImmediate(handOver);
      }
    },
  };
}
