import type { FastifyReply, FastifyRequest } from 'fastify';
import type { LoggerOptions } from 'pino';

/**
 * Logs must never carry personal data (emails, names, IP addresses) or secrets. Requests are
 * logged by route pattern only (no query string, no client address); any object logged with
 * a field of these names has it censored as a second line of defence.
 */
const redactPaths = [
  'email',
  '*.email',
  'emailAddress',
  '*.emailAddress',
  'userIp',
  '*.userIp',
  'ip',
  '*.ip',
  'remoteAddress',
  '*.remoteAddress',
  'name',
  '*.name',
  'displayName',
  '*.displayName',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'headers.authorization',
  '*.headers.authorization',
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
