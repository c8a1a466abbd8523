import type { App } from '../../src/app.js';
import { sessionCookie } from '../../src/sessions/session-cookie.js';
import type { TestApp } from './app.js';

type Response = Awaited<ReturnType<App['inject']>>;

/**
 * A browser, as far as the pages are concerned: keeps the cookies it is given, sends them
 * back, sends Accept: text/html, and remembers the CSRF token of the last page it got (from
 * the <body hx-headers> every page carries).
 */
export class WebClient {
  readonly cookies = new Map<string, string>();
  csrfToken: string | undefined;

  constructor(
    private readonly t: TestApp,
    private readonly defaults: Record<string, string> = {},
  ) {}

  get sessionCookieName(): string {
    return sessionCookie(this.t.ctx.config.publicUrl).name;
  }

  /** Signs in the way sign-in will: a new session for the account, its token in the cookie. */
  async signIn(accountId: string, userAgent?: string): Promise<{ sessionId: string; token: string }> {
    const created = await this.t.ctx.sessions.create(accountId, { userAgent });
    this.cookies.set(this.sessionCookieName, created.token);
    return { sessionId: created.id, token: created.token };
  }

  get(url: string, headers: Record<string, string> = {}): Promise<Response> {
    return this.request('GET', url, undefined, headers);
  }

  /** A form post; `_csrf` is the last page's token unless the form says otherwise (null: none). */
  post(
    url: string,
    form: Record<string, string | null> = {},
    headers: Record<string, string> = {},
  ): Promise<Response> {
    const fields: Record<string, string> = {};
    if (!('_csrf' in form) && this.csrfToken) fields._csrf = this.csrfToken;
    for (const [name, value] of Object.entries(form)) if (value !== null) fields[name] = value;
    return this.request('POST', url, new URLSearchParams(fields).toString(), {
      'content-type': 'application/x-www-form-urlencoded',
      ...headers,
    });
  }

  private async request(
    method: 'GET' | 'POST',
    url: string,
    payload: string | undefined,
    headers: Record<string, string>,
  ): Promise<Response> {
    const cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    const res = await this.t.app.inject({
      method,
      url,
      payload,
      headers: { accept: 'text/html', ...this.defaults, ...(cookie ? { cookie } : {}), ...headers },
    });
    for (const c of res.cookies as { name: string; value: string; maxAge?: number }[]) {
      if (c.value === '' || c.maxAge === 0) this.cookies.delete(c.name);
      else this.cookies.set(c.name, c.value);
    }
    const token = /<body hx-headers="\{&quot;x-csrf-token&quot;:&quot;([^&]+)&quot;\}"/.exec(res.body)?.[1];
    if (token) this.csrfToken = token;
    return res;
  }
}
