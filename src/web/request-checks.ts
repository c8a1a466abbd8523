import type { FastifyRequest } from 'fastify';
import { AppError } from '../errors/app-error.js';

export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The form field and the header (htmx sends it, see the layout) that carry the CSRF token. */
export const CSRF_FIELD = '_csrf';
export const CSRF_HEADER = 'x-csrf-token';

/**
 * Refuses a state-changing request that a browser says came from another origin, before
 * anything else looks at it (OWASP CSRF Prevention: Fetch Metadata and Origin checks).
 * Sec-Fetch-Site is the browser's own verdict; without it, Origin is compared with this
 * site's origin. A request carrying neither comes from no browser (or a very old one): the
 * CSRF token still decides for it.
 */
export function sameOriginCheck(publicUrl: string | undefined) {
  const publicOrigin = publicUrl === undefined ? undefined : new URL(publicUrl).origin;
  return async (request: FastifyRequest): Promise<void> => {
    if (SAFE_METHODS.has(request.method)) return;
    const site = request.headers['sec-fetch-site'];
    if (site !== undefined) {
      if (site === 'same-origin') return;
      throw new AppError('FORBIDDEN', 'Cross-origin request refused');
    }
    const origin = request.headers.origin;
    if (origin === undefined) return;
    const expected = publicOrigin ?? `${request.protocol}://${request.host}`;
    if (origin !== expected) throw new AppError('FORBIDDEN', 'Cross-origin request refused');
  };
}

export function csrfTokenOf(request: FastifyRequest): string | undefined {
  const body = request.body as Record<string, unknown> | undefined;
  const field = body?.[CSRF_FIELD];
  if (typeof field === 'string') return field;
  const header = request.headers[CSRF_HEADER];
  return typeof header === 'string' ? header : undefined;
}

/** Form schemas describe their own fields only: the token is removed once it has been checked. */
export function dropCsrfField(request: FastifyRequest): void {
  const body = request.body;
  if (body !== null && typeof body === 'object' && CSRF_FIELD in body)
    delete (body as Record<string, unknown>)[CSRF_FIELD];
}

/**
 * What a CSRF token is bound to: the session cookie as presented (any value, live or not),
 * or none. A token minted for one session is refused with another, and signing in or out
 * changes the cookie, so every page's tokens change with it. The token holds only an HMAC of
 * this value under a key derived from the master key, never the session token itself.
 */
export function csrfBinding(request: FastifyRequest, sessionCookieName: string): string {
  const session = request.cookies?.[sessionCookieName];
  return session ? `session:${session}` : 'anonymous';
}

/** @fastify/csrf-protection's refusals, in the error catalogue. */
export function csrfRefusal(error: { code?: string }): AppError | undefined {
  if (error.code === 'FST_CSRF_MISSING_SECRET' || error.code === 'FST_CSRF_INVALID_TOKEN')
    return new AppError('FORBIDDEN', 'Missing or invalid CSRF token: reload the page and try again', {
      field: CSRF_FIELD,
    });
  return undefined;
}
