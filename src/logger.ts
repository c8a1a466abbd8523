import { type FastifyReply, type FastifyRequest, LogController } from 'fastify';
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
      reply.log.error({ ...fields(request, reply), err: error }, 'request errored');
      return;
    }
    const log = reply.log as unknown as Logger & PinoState;
    if (!log.isLevelEnabled('info')) return;
    const stream = log[symbols.streamSym];
    // A stream that routes lines by level (pino.multistream) needs pino's own write path.
    if (stream[symbols.needsMetadataGsym]) reply.log.info(fields(request, reply), 'request completed');
    else stream.write(completedLine(log, request, reply));
  }
}

/** A request's fields for pino's serializers above (the errored line, and streams by level). */
const fields = (request: FastifyRequest, reply: FastifyReply) => ({
  req: request,
  res: reply,
  responseTime: reply.elapsedTime,
});

/** pino's own state of a logger, by the symbols pino exports for integrations. */
interface PinoState {
  [symbols.chindingsSym]: string;
  [symbols.streamSym]: { write(line: string): unknown; [symbols.needsMetadataGsym]?: boolean };
}

const INFO = 30;

/**
 * The line pino writes for `info({ req, res, responseTime }, 'request completed')` with the
 * serializers above, byte for byte (test/ops/request-log.test.ts compares the two), made
 * directly: every field is a number or a string Custos chose (a method Node's parser
 * accepted, a route pattern, never a URL), so none needs pino's serializers or redaction.
 * On consent-config/get pino's generic path (each key looked up among the serializers and
 * redacted paths, each object through JSON.stringify) cost about 5 % of the server's busy
 * time in CPU profiles under load, this line about 2 %
 * (docs/benchmarks.md#changes-between-the-full-runs-on-51227fe-and-fa2ddf2).
 */
function completedLine(log: PinoState, request: FastifyRequest, reply: FastifyReply): string {
  const bindings = log[symbols.chindingsSym];
  const route = JSON.stringify(request.routeOptions?.url ?? 'unmatched');
  return `{"level":${INFO},"time":${Date.now()}${bindings},"req":{"method":${JSON.stringify(request.method)},"route":${route}},"res":{"statusCode":${reply.statusCode}},"responseTime":${reply.elapsedTime},"msg":"request completed"}\n`;
}

/**
 * The log's stream: stdout, written asynchronously, one per process (every logger made with
 * it shares it). A request does not wait for its log line's write: the lines logged in one
 * turn of the event loop are handed to the writer (pino's sonic-boom) together at the turn's
 * end, and lines handed over while a write is under way go out together in the next one.
 * One hand-over per turn rather than per line: sonic-boom measures the string it is
 * gathering for its next write (up to 16 KB, `Buffer.byteLength`) each time it is given
 * more, which under load cost 1.5–2.5 % of the server's busy time in CPU profiles (0.1 %
 * batched). Nothing is held back longer: a lone line is written in the turn that logged it
 * (4 KB blocks flushed at least every 10 ms measured the same as this, within the noise,
 * and held-back lines would be lost on an abort: out of memory, SIGKILL). `flushSync`
 * (pino calls it after a `fatal` line) and the process's exit (a signal's shutdown, a fatal
 * start-up error) write everything still queued synchronously, the writer's queue first; a
 * write already under way finishes on its own, as with pino's writer alone.
 */
export function stdoutDestination(): DestinationStream {
  stdout ??= batchedStdout();
  return stdout;
}

let stdout: DestinationStream | undefined;

function batchedStdout(): DestinationStream {
  const writer = destination({ dest: 1, sync: false });
  // For what must be written before the process goes on (exit, a fatal line): the
  // asynchronous writer would start a write that the exit does not wait for. Both retry a
  // full pipe; neither closes stdout.
  const syncWriter = destination({ dest: 1, sync: true });
  let lines: string[] = [];
  let scheduled = false;
  const take = () => {
    const text = lines.length === 1 ? (lines[0] as string) : lines.join('');
    lines = [];
    return text;
  };
  const handOver = () => {
    scheduled = false;
    if (lines.length === 0) return;
    try {
      writer.write(take());
    } catch {
      // The writer was destroyed: nowhere to write.
    }
  };
  const flushSync = () => {
    const text = lines.length === 0 ? '' : take();
    try {
      writer.flushSync(); // what it holds was logged first
    } catch {
      // The writer was destroyed; the gathered lines can still go out.
    }
    try {
      if (text !== '') syncWriter.write(text);
    } catch {
      // stdout is gone: nothing more can be written.
    }
  };
  // pino's own exit hook flushes the writer's queue; this one also writes the lines of the
  // last turn, which that hook cannot see.
  process.on('exit', flushSync);
  const stream: DestinationStream & { flushSync(): void; flush(callback?: (error?: Error) => void): void } = {
    write(line: string) {
      lines.push(line);
      if (!scheduled) {
        scheduled = true;
        setImmediate(handOver);
      }
    },
    flushSync,
    flush(callback?: (error?: Error) => void) {
      handOver();
      writer.flush(callback);
    },
  };
  return stream;
}
