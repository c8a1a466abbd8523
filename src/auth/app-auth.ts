import type { AppCredentials } from './app-credentials.port.js';
import { authenticateConnectJwt } from './connect-jwt.js';
import type { CredentialLimiter } from './credential-limiter.js';
import type { OAuthService } from './oauth.service.js';
import type { AppAuthScheme, AppPrincipal } from './principal.js';

/** `Authorization: JWT <token>` (Connect) or `Authorization: Bearer <token>` (OAuth 2.0). */
export function parseAppAuthorization(
  header: string | undefined,
): { scheme: AppAuthScheme; token: string } | undefined {
  const match = header ? /^(JWT|Bearer)\s+([A-Za-z0-9._~+/=-]+)\s*$/i.exec(header) : null;
  if (!match?.[1] || !match[2]) return undefined;
  return { scheme: match[1].toLowerCase() === 'jwt' ? 'jwt' : 'oauth', token: match[2] };
}

/** Both app authentication schemes behind one call, for the auth hook. */
export class AppAuthenticator {
  constructor(
    private readonly credentials: AppCredentials,
    private readonly oauth: OAuthService,
    private readonly limiter: CredentialLimiter,
  ) {}

  authenticate(
    scheme: AppAuthScheme,
    token: string,
    request: { method: string; url: string; ip: string },
  ): Promise<AppPrincipal | undefined> {
    return scheme === 'jwt'
      ? authenticateConnectJwt(this.credentials, this.limiter, token, request)
      : this.oauth.authenticateBearer(token);
  }
}
