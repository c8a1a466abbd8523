import type { FastifyRequest } from 'fastify';

/** Where people sign in (the sign-in pages themselves come with the console). */
export const LOGIN_PATH = '/login';

/**
 * A `next` parameter made safe to redirect to: a path on this site, or `/`. Anything that
 * could leave the site — `//host`, `/\host` (read as `//host` by browsers), a scheme, control
 * characters — is dropped, so sign-in cannot be used as an open redirect. A `Location` header
 * carries ASCII only, so characters beyond it are sent percent-encoded (UTF-8), as a browser
 * writes them; text that is not valid Unicode (a lone surrogate) is dropped too.
 */
export function safeNextPath(next: unknown): string {
  if (typeof next !== 'string' || !next.startsWith('/')) return '/';
  if (next.startsWith('//') || next.startsWith('/\\')) return '/';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses
  if (/[\u0000-\u001f\u007f]|\p{Cs}/u.test(next)) return '/';
  return next.replace(/[^\u0020-\u007e]+/gu, encodeURIComponent);
}

/** The sign-in page, asked to come back to `path` afterwards. */
export function loginPath(path: string): string {
  return `${LOGIN_PATH}?next=${encodeURIComponent(safeNextPath(path))}`;
}

export function acceptsHtml(request: FastifyRequest): boolean {
  return (request.headers.accept ?? '').includes('text/html');
}

/**
 * A browser asking for a whole page (typing an address, following a link), as opposed to a
 * form post, an htmx partial or an API client: the one case where a missing session is
 * answered by sending the person to sign in.
 */
export function isPageNavigation(request: FastifyRequest): boolean {
  return (
    (request.method === 'GET' || request.method === 'HEAD') &&
    acceptsHtml(request) &&
    request.headers['hx-request'] === undefined
  );
}
