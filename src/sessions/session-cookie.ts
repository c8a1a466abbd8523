/** How a cookie of Custos is written; the shape `reply.setCookie` takes. */
export interface CookieSpec {
  name: string;
  options: {
    path: '/';
    httpOnly: true;
    sameSite: 'lax';
    secure: boolean;
  };
}

/**
 * The attributes every cookie of Custos carries:
 * - HttpOnly: no script reads it, so an injected script cannot carry it off.
 * - SameSite=Lax: the browser leaves it off cross-site POSTs, frames and subresource
 *   requests, but sends it when a person follows a link to Custos from elsewhere (a mail,
 *   a chat, an identity provider's redirect back). Strict would make such a link arrive
 *   signed out. Lax is safe here because a GET never changes state: every change is a POST,
 *   which also needs a CSRF token and a same-origin Origin (src/web).
 * - Secure and the `__Host-` prefix when the public origin is https (cookie prefixes, RFC 6265bis):
 *   the browser then accepts the cookie only from a secure origin, with Path=/ and no
 *   Domain, so a sibling subdomain or a network attacker cannot plant or overwrite it.
 * - No Max-Age: it ends with the browser session; the server enforces its own timeouts.
 */
export function cookieSpec(baseName: string, publicUrl: string | undefined): CookieSpec {
  const secure = publicUrl?.startsWith('https:') ?? false;
  return {
    name: secure ? `__Host-${baseName}` : baseName,
    options: { path: '/', httpOnly: true, sameSite: 'lax', secure },
  };
}

/** The cookie that carries a person's session token. */
export const sessionCookie = (publicUrl: string | undefined): CookieSpec =>
  cookieSpec('custos-session', publicUrl);
