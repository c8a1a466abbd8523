import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

export const IDP_CLIENT_ID = 'custos-test';
export const IDP_CLIENT_SECRET = 'custos-test-client-secret-0123456789abcdef';

/**
 * A real OpenID Connect provider (oidc-provider) on a loopback port, as the upstream identity
 * service. Whoever opens its authorization page is signed in at once as `nextAccount` (the
 * provider's own login and consent pages are not what is tested); with `nextAccount`
 * undefined the provider refuses with access_denied.
 */
export class IdentityProvider {
  /** The `sub` of whoever signs in at the provider next. */
  nextAccount: string | undefined;
  private provider: Provider | undefined;

  private constructor(
    private readonly server: Server,
    readonly issuer: string,
    /** The provider's ID token signing key, made for the run. */
    private readonly signingKey: Record<string, unknown>,
  ) {}

  static async start(): Promise<IdentityProvider> {
    let idp: IdentityProvider | undefined;
    const server = createServer((req, res) => {
      idp?.handle(req, res).catch((error: Error) => {
        res.statusCode = 500;
        res.end(error.message);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    idp = new IdentityProvider(server, `http://127.0.0.1:${port}`, {
      ...(await exportJWK(privateKey)),
      use: 'sig',
    });
    return idp;
  }

  /** The settings that point Custos at this provider. */
  env(): Record<string, string> {
    return {
      CUSTOS_OIDC_ISSUER: this.issuer,
      CUSTOS_OIDC_CLIENT_ID: IDP_CLIENT_ID,
      CUSTOS_OIDC_CLIENT_SECRET: IDP_CLIENT_SECRET,
    };
  }

  /** Registers Custos (its callback URL) as the provider's client; before the first sign-in. */
  register(redirectUri: string): void {
    this.provider = new Provider(this.issuer, {
      clients: [
        {
          client_id: IDP_CLIENT_ID,
          client_secret: IDP_CLIENT_SECRET,
          redirect_uris: [redirectUri],
          grant_types: ['authorization_code'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_basic',
        },
      ],
      pkce: { methods: ['S256'], required: () => true },
      features: { devInteractions: { enabled: false } },
      interactions: {
        url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}`,
      },
      cookies: { keys: ['identity-provider-test-cookie-key'] },
      jwks: { keys: [this.signingKey] },
      findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub }) }),
    });
  }

  /**
   * Follows the provider's redirects from an authorization URL, as a browser would, and
   * returns the URL it finally sends the person back to (the client's redirect URI).
   */
  async authorize(authorizationUrl: string, redirectUri: string): Promise<string> {
    const cookies = new Map<string, string>();
    let url = authorizationUrl;
    for (let hop = 0; hop < 10; hop++) {
      const res = await fetch(url, {
        redirect: 'manual',
        headers: { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
      });
      for (const line of res.headers.getSetCookie()) {
        const [pair] = line.split(';');
        const eq = pair?.indexOf('=') ?? -1;
        if (pair && eq > 0) cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
      }
      const location = res.headers.get('location');
      if (!location)
        throw new Error(`the provider answered ${res.status} without a redirect: ${await res.text()}`);
      url = new URL(location, url).href;
      if (url.startsWith(redirectUri)) return url;
    }
    throw new Error('too many redirects at the provider');
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const provider = this.provider;
    if (!provider) throw new Error('no client registered at the identity provider');
    if (!req.url?.startsWith('/interaction/')) return provider.callback()(req, res);
    const details = await provider.interactionDetails(req, res);
    const accountId = this.nextAccount;
    if (accountId === undefined) {
      await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'refused' });
      return;
    }
    if (details.prompt.name === 'login') {
      await provider.interactionFinished(
        req,
        res,
        { login: { accountId } },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    const grant = new provider.Grant({ accountId, clientId: String(details.params.client_id) });
    grant.addOIDCScope('openid');
    await provider.interactionFinished(
      req,
      res,
      { consent: { grantId: await grant.save() } },
      { mergeWithLastSubmission: true },
    );
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
