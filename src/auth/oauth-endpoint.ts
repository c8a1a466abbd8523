import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { classifyError } from '../errors/error-handler.js';
import { OAUTH_ERROR_CODES, OAuthError, type OAuthService } from './oauth.service.js';

/**
 * What the OAuth endpoints that authenticate a client share: the token endpoint
 * (oauth.routes.ts) and the authorization server's revocation and introspection endpoints
 * (src/grants): reading the client id, the failed sign-in budget, and RFC 6749's error body.
 */

/**
 * The error body of these endpoints, as their routes declare it: a route's response schemas
 * are its serializers, and the statuses it does not declare get the shape of those it does
 * (route-docs.ts).
 */
export const OAuthErrorBody = Type.Object(
  { error: Type.Enum([...OAUTH_ERROR_CODES]), error_description: Type.Optional(Type.String()) },
  {
    additionalProperties: false,
    description:
      'RFC 6749 §5.2 error. 401 invalid_client comes with WWW-Authenticate; 429 slow_down with Retry-After (seconds).',
  },
);

/** A form-urlencoded part of Basic credentials (RFC 6749 §2.3.1, appendix B: `+` is a space). */
const formDecoded = (part: string) => decodeURIComponent(part.replace(/\+/g, '%20'));

/**
 * RFC 6749 §2.3.1: `Authorization: Basic base64(urlencode(id):urlencode(secret))`, read
 * exactly as the authorization server behind revocation, introspection and the user grants
 * reads it (oidc-provider: the scheme and one space-separated value, base64 decoded as Node
 * decodes it), so the client a failure is counted against is the client whose secret was
 * checked. Undefined where the server refuses the header itself (400, no secret checked).
 */
export function basicClient(header: string | undefined): { id: string; secret: string } | undefined {
  const parts = header?.split(' ');
  if (parts?.length !== 2 || parts[0]?.toLowerCase() !== 'basic') return undefined;
  const decoded = Buffer.from(parts[1] ?? '', 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  try {
    return { id: formDecoded(decoded.slice(0, colon)), secret: formDecoded(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

/**
 * Every failure on an OAuth endpoint in RFC 6749's shape, whatever raised it: the parser
 * (malformed body, media type, size), validation (400 naming the field), the credential
 * limiter, or a fault. The HTTP status stays that of the catalogue error.
 */
function toOAuthError(error: FastifyError, request: FastifyRequest, mediaTypes: string): OAuthError {
  if (error instanceof OAuthError) return error;
  const known = classifyError(error, request);
  const options = { status: known.status, headers: known.headers };
  if (known.code === 'RATE_LIMITED') return new OAuthError('slow_down', known.message, options);
  if (known.code === 'UNSUPPORTED_MEDIA_TYPE')
    return new OAuthError('invalid_request', `Content-Type must be ${mediaTypes}`, options);
  return new OAuthError(known.status >= 500 ? 'server_error' : 'invalid_request', known.message, options);
}

/**
 * The error handler of an OAuth endpoint that takes `mediaTypes`: the RFC 6749 §5.2 body
 * `{error, error_description}` that OAuth client libraries parse, never cached (§5.1).
 */
export function oauthErrorHandler(mediaTypes: string) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const oauthError = toOAuthError(error, request, mediaTypes);
    for (const [name, value] of Object.entries(oauthError.headers)) reply.header(name, value);
    // RFC 6749 §5.2: invalid_client is 401 with a challenge for the scheme the client may use.
    if (oauthError.status === 401) reply.header('www-authenticate', 'Basic realm="custos"');
    return reply
      .code(oauthError.status)
      .header('cache-control', 'no-store')
      .header('pragma', 'no-cache')
      .type('application/json')
      .send({ error: oauthError.error, error_description: oauthError.message });
  };
}

/**
 * Lets the authorization server answer on the raw response, within the failed sign-in
 * budget of the client the request names (HTTP Basic, else `bodyClientId`) and of the
 * caller's address: a limited caller is refused (429 slow_down, by the route's
 * oauthErrorHandler) before the server reads the client or checks its secret, and a 401
 * (the server's invalid_client: unknown client, wrong secret) counts as a failure.
 */
export async function answerWithinClientBudget(
  oauth: Pick<OAuthService, 'limitClientAuthentication'>,
  request: FastifyRequest,
  reply: FastifyReply,
  bodyClientId: string | undefined,
  answer: () => Promise<void>,
): Promise<FastifyReply> {
  const clientId = basicClient(request.headers.authorization)?.id ?? bodyClientId ?? '';
  await oauth.limitClientAuthentication(clientId, request.ip, async () => {
    reply.hijack();
    await answer();
    return reply.raw;
  });
  return reply;
}
