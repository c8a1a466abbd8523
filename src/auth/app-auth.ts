import type { AppCredentials } from './app-credentials.port.js';
import { authenticateConnectJwt } from './connect-jwt.js';
import type { CredentialLimiter } from './credential-limiter.js';
import type { OAuthService } from './oauth.service.js';
import type { AppAuthScheme, AppPrincipal } from './principal.js';
import type { UserGrants } from './user-grants.port.js';

/** Custos's client-credentials tokens are JWTs; tokens people grant are opaque (no dots). */
const isJwt = (token: string) => token.split('.').length === 3;

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
    private readonly userGrants?: UserGrants,
  ) {}

  authenticate(
    scheme: AppAuthScheme,
    token: string,
    request: { method: string; url: string; ip: string },
  ): Promise<AppPrincipal | undefined> {
    if (scheme === 'jwt') return authenticateConnectJwt(this.credentials, this.limiter, token, request);
    if (isJwt(token) || !this.userGrants) return this.oauth.authenticateBearer(token);
    return this.userGrants.authenticate(token);
  }
}
