/**
 * The part of oidc-provider (v8, which ships no type declarations) that Custos uses.
 * Its documentation: the v8.x branch of github.com/panva/node-oidc-provider.
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export interface OidcContext {
    oidc: { route?: string; client?: { clientId: string } };
  }

  export interface ProviderClient {
    clientId: string;
    compareClientSecret(actual: string): boolean | Promise<boolean>;
  }

  export interface StoredGrant {
    jti: string;
    accountId: string;
    clientId: string;
    exp?: number;
    isExpired: boolean;
    addOIDCScope(scope: string): void;
    getOIDCScope(): string;
    save(): Promise<string>;
    destroy(): Promise<void>;
  }

  export interface StoredAccessToken {
    jti: string;
    accountId: string;
    clientId: string;
    grantId: string;
    scope?: string;
    isExpired: boolean;
  }

  export interface InteractionDetails {
    uid: string;
    prompt: { name: string; reasons: string[]; details: Record<string, unknown> };
    params: Record<string, string | undefined>;
    session?: { accountId?: string };
    grantId?: string;
  }

  export interface InteractionResults {
    login?: { accountId: string };
    consent?: { grantId: string };
    error?: string;
    error_description?: string;
  }

  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    proxy: boolean;
    callback(): (request: IncomingMessage, response: ServerResponse) => Promise<void>;
    interactionDetails(request: IncomingMessage, response: ServerResponse): Promise<InteractionDetails>;
    interactionResult(
      request: IncomingMessage,
      response: ServerResponse,
      result: InteractionResults,
      options?: { mergeWithLastSubmission?: boolean },
    ): Promise<string>;
    /** Ends an interaction by redirecting to the authorization endpoint (the test identity provider). */
    interactionFinished(
      request: IncomingMessage,
      response: ServerResponse,
      result: InteractionResults | Record<string, unknown>,
      options?: { mergeWithLastSubmission?: boolean },
    ): Promise<void>;
    on(event: string, listener: (...args: unknown[]) => void): this;
    Client: { prototype: ProviderClient; find(id: string): Promise<ProviderClient | undefined> };
    Grant: {
      new (properties: { accountId: string; clientId: string }): StoredGrant;
      find(id: string): Promise<StoredGrant | undefined>;
    };
    AccessToken: { find(value: string): Promise<StoredAccessToken | undefined> };
  }
}
