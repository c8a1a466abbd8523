import type { ErrorObject } from 'ajv';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { DatabaseBusyError } from '../db/dialect.js';
import { problemsOf } from '../validation.js';
import { AppError, type ErrorCode, errorStatus } from './app-error.js';

/**
 * A validation failure as one 400 naming the first field, with up to ten problems in words.
 * `context` (body, querystring, params) stands for the whole part when no field is named.
 */
export function fromValidation(errors: ErrorObject[], context?: string): AppError {
  const problems = problemsOf(errors);
  const fieldOf = (path: string[]) => path.join('.') || context || 'body';
  const lines = problems.slice(0, 10).map((p) => `${fieldOf(p.path)} ${p.message}`);
  const field = problems[0] ? fieldOf(problems[0].path) : (context ?? 'body');
  return new AppError('VALIDATION_FAILED', lines.join('; ') || 'invalid request', { field });
}

const fastifyCodes: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION_FAILED',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_JSON',
};

function toAppError(error: FastifyError): AppError | undefined {
  if (error instanceof AppError) return error;
  if (error instanceof DatabaseBusyError)
    return new AppError('UNAVAILABLE', error.message, {
      headers: { 'retry-after': String(error.retryAfterSeconds) },
    });
  if (error.validation) return fromValidation(error.validation as ErrorObject[], error.validationContext);
  const mapped = error.code ? fastifyCodes[error.code] : undefined;
  if (mapped) return new AppError(mapped, publicMessage(mapped));
  // Fastify's JSON parser reports a SyntaxError with status 400.
  if (error.name === 'SyntaxError' && error.statusCode === 400) {
    return new AppError('MALFORMED_JSON', publicMessage('MALFORMED_JSON'));
  }
  if (error.statusCode === 429) return new AppError('RATE_LIMITED', 'Rate limit exceeded');
  return undefined;
}

function publicMessage(code: ErrorCode): string {
  switch (code) {
    case 'UNSUPPORTED_MEDIA_TYPE':
      return 'Content-Type must be application/json';
    case 'PAYLOAD_TOO_LARGE':
      return 'Request body is too large';
    case 'MALFORMED_JSON':
      return 'Request body is not valid JSON';
    default:
      return code;
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's contract documents exactly {errorType, errorMessage} (report-accounts): no `field`. */
    bareErrorBody?: boolean;
  }
}

export function sendError(reply: FastifyReply, error: AppError): FastifyReply {
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  const body: Record<string, string> = { errorType: error.code, errorMessage: error.message };
  if (error.field !== undefined && !reply.request.routeOptions.config?.bareErrorBody)
    body.field = error.field;
  return reply.status(errorStatus[error.code]).type('application/json').send(body);
}

const urlProblems: Record<string, string> = {
  FST_ERR_BAD_URL: 'The URL is not valid: a percent-encoded sequence is not UTF-8',
  FST_ERR_MAX_PARAM_LENGTH: 'A path parameter is too long',
};

/**
 * Errors Fastify answers before routing, with its own body unless told otherwise: a URL
 * whose percent-encoding is not UTF-8 (a lone surrogate sent as bytes, say) and a path
 * parameter longer than the router allows. They get the error shape like any other 400.
 */
export function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const message = urlProblems[error.code];
  sendError(
    reply,
    message
      ? new AppError('VALIDATION_FAILED', message, { field: 'url' })
      : new AppError('INTERNAL', 'Internal server error'),
  );
}

/**
 * The catalogue error a failure is answered with. Client mistakes become catalogue errors
 * naming the field; anything else is a 500 whose details (stack, driver message — which
 * may quote personal data) go only to the log, in redacted form, never to the client.
 */
export function classifyError(error: FastifyError, request: FastifyRequest): AppError {
  const known = toAppError(error);
  if (known) return known;
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return new AppError('VALIDATION_FAILED', 'Bad request');
  }
  request.log.error({ err: error }, 'unhandled error');
  return new AppError('INTERNAL', 'Internal server error');
}

/** The one error handler; a route with a contract of its own (the OAuth token endpoint) renders classifyError itself. */
export const errorHandlerPlugin = fp(async (app: FastifyInstance) => {
  app.setErrorHandler((error: FastifyError, request, reply) =>
    sendError(reply, classifyError(error, request)),
  );
  app.setNotFoundHandler((_request, reply) => sendError(reply, new AppError('NOT_FOUND', 'Route not found')));
});
