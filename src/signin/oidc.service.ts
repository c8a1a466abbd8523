import * as client from 'openid-client';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit.service.js';
import type { OidcConfig } from '../config.js';
import { AppError } from '../errors/app-error.js';
import { isValidAccountId } from '../shared/account-id.js';
import type { SignInAccounts } from './accounts.port.js';

/** Where the provider sends people back. */
export const OIDC_CALLBACK_PATH = '/login/oidc/callback';
/** How long a person may take at the provider. */
export const OIDC_TRANSACTION_MS = 10 * 60_000;

/**
 * What the browser keeps (encrypted, in a short-lived cookie) between leaving for the
 * provider and coming back: the checks the answer must pass and where to go afterwards.
 */
export interface OidcTransaction {
  state: string;
  nonce: string;
  codeVerifier: string;
  next: string;
  expiresAt: number;
}

const refused = (message: string) => new AppError('FORBIDDEN', message);

/**
 * Sign-in through the platform's own identity provider (OpenID Connect Core 1.0, the
 * authorization code flow): PKCE with S256 (RFC 7636), `state` against cross-site request
 * forgery of the callback, `nonce` against a replayed ID token, all checked by openid-client,
 * and the ID token's signature, issuer, audience and times. The configured claim holds the
 * Custos accountId; it must name an open account, or nobody is signed in.
 */
export class OidcSignIn {
  private configuration: Promise<client.Configuration> | undefined;

  constructor(
    private readonly settings: OidcConfig,
    private readonly accounts: SignInAccounts,
    private readonly audit: AuditLog,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The provider's address for people, e.g. on the sign-in button's description. */
  get issuerHost(): string {
    return new URL(this.settings.issuer).host;
  }

  /** The authorization request to send the person to, and the transaction to keep until they return. */
  async begin(redirectUri: string, next: string): Promise<{ url: string; transaction: OidcTransaction }> {
    const configuration = await this.discover();
    const transaction: OidcTransaction = {
      state: client.randomState(),
      nonce: client.randomNonce(),
      codeVerifier: client.randomPKCECodeVerifier(),
      next,
      expiresAt: this.now().getTime() + OIDC_TRANSACTION_MS,
    };
    const url = client.buildAuthorizationUrl(configuration, {
      redirect_uri: redirectUri,
      scope: 'openid',
      response_type: 'code',
      state: transaction.state,
      nonce: transaction.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(transaction.codeVerifier),
      code_challenge_method: 'S256',
    });
    return { url: url.href, transaction };
  }

  /**
   * Checks the provider's answer at `callbackUrl` against the transaction, redeems the code
   * and returns the account to sign in. Every failure is a refusal (403) that names no
   * personal data; its kind is logged.
   */
  async complete(callbackUrl: URL, transaction: OidcTransaction | undefined): Promise<string> {
    if (!transaction || transaction.expiresAt <= this.now().getTime())
      throw refused('This sign-in took too long or was started in another browser: please start again.');
    const configuration = await this.discover();
    let claims: client.IDToken | undefined;
    try {
      const tokens = await client.authorizationCodeGrant(configuration, callbackUrl, {
        pkceCodeVerifier: transaction.codeVerifier,
        expectedState: transaction.state,
        expectedNonce: transaction.nonce,
        idTokenExpected: true,
      });
      claims = tokens.claims();
    } catch (error) {
      const { name, code } = error as { name?: string; code?: unknown };
      const providerError = error instanceof client.AuthorizationResponseError ? error.error : undefined;
      this.log.warn({ errorType: name, errorCode: code, providerError }, 'OpenID Connect sign-in refused');
      throw refused(
        providerError === 'access_denied'
          ? 'The identity provider did not sign you in.'
          : "The identity provider's answer could not be verified: please start again.",
      );
    }
    const value = claims?.[this.settings.accountClaim];
    const account =
      typeof value === 'string' && isValidAccountId(value)
        ? await this.accounts.getAccount(value).catch((error: unknown) => {
            if (error instanceof AppError && error.code === 'NOT_FOUND') return undefined;
            throw error;
          })
        : undefined;
    if (!account?.active || typeof value !== 'string') {
      this.log.warn({ claim: this.settings.accountClaim }, 'OpenID Connect sign-in for no open account');
      throw refused(
        'You are signed in at the identity provider, but no open Custos account is linked to that identity. Ask your operator.',
      );
    }
    await this.audit.append([
      { actor: { type: 'account', id: value }, action: 'signin.oidc', accountId: value },
    ]);
    return value;
  }

  private discover(): Promise<client.Configuration> {
    if (!this.configuration) {
      const { issuer, clientId, clientSecret } = this.settings;
      const insecure = new URL(issuer).protocol === 'http:';
      this.configuration = client
        .discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(clientSecret), {
          execute: insecure ? [client.allowInsecureRequests] : [],
        })
        .catch((error: Error & { code?: unknown }) => {
          this.configuration = undefined;
          this.log.warn({ errorType: error.name, errorCode: error.code }, 'OpenID Connect discovery failed');
          throw new AppError('UNAVAILABLE', 'The identity provider cannot be reached: try again later.');
        });
    }
    return this.configuration;
  }
}
