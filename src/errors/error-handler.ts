import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError, type ErrorCode, errorStatus } from './app-error.js';

interface AjvLikeError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** `/consents/0/key` + missing `granted` → `consents.0.granted`. */
function fieldOf(error: AjvLikeError, context: string | undefined): string {
  const parts = error.instancePath.split('/').filter(Boolean);
  const extra = error.params.missingProperty ?? error.params.additionalProperty;
  if (typeof extra === 'string') parts.push(extra);
  return parts.join('.') || context || 'body';
}

function describe(error: AjvLikeError): string {
  if (error.keyword === 'required') return 'is required';
  if (error.keyword === 'additionalProperties') return 'is not an allowed property';
  return error.message ?? 'is invalid';
}

export function fromValidation(errors: AjvLikeError[], context?: string): AppError {
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const e of errors) {
    // anyOf/oneOf add a summary line on top of the branch errors; the branches say more.
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf') continue;
    const line = `${fieldOf(e, context)} ${describe(e)}`;
    if (!seen.has(line)) problems.push(line);
    seen.add(line);
  }
  const first = errors.find((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf') ?? errors[0];
  const field = first ? fieldOf(first, context) : (context ?? 'body');
  return new AppError('VALIDATION_FAILED', problems.slice(0, 10).join('; ') || 'invalid request', { field });
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
  if (error.validation) return fromValidation(error.validation as AjvLikeError[], error.validationContext);
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
