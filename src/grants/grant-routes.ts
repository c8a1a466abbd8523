/** Where the authorization server's endpoints and Custos's pages of the flow are (docs/app-grants.md). */
export const GRANT_ROUTES = {
  authorization: '/authorize',
  token: '/oauth/token',
  revocation: '/oauth/revoke',
  introspection: '/oauth/introspect',
  jwks: '/oauth/jwks',
  discovery: '/.well-known/openid-configuration',
  /** Custos's own pages: sign-in (through the existing session) and consent. */
  interaction: '/oauth/interaction',
} as const;
