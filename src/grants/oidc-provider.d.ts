/**
 * The part of oidc-provider (v8, which ships no type declarations) that Custos uses.
 * Its documentation: the v8.x branch of github.com/panva/node-oidc-provider.
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export interface OidcContext {
    oidc: { route?: string; client?: { clientId: string } };
  }

  /** The context an interaction policy's check is given (the request is Koa's `req`). */
  export interface PolicyContext {
    req: IncomingMessage;
    oidc: { session: { accountId?: string } };
  }

  /** The context `loadExistingGrant` is given: the authorization request being resolved. */
  export interface GrantLookupContext {
    req: IncomingMessage;
    oidc: {
      provider: Provider;
      client: { clientId: string };
      session: { grantIdFor(clientId: string): string | undefined };
      /** The server session's account (at a resume, the one its sign-in step signed in); always set here. */
      account?: { accountId: string };
      result?: { consent?: { grantId?: string } };
    };
  }

  /** The server's session with a browser (its cookie `cookies.names.session`). */
  export interface ProviderSession {
    jti: string;
    accountId?: string;
    destroy(): Promise<void>;
  }

  export namespace interactionPolicy {
    class Check {
      constructor(
        reason: string,
        description: string,
        error: string,
        check: (ctx: PolicyContext) => boolean | Promise<boolean>,
      );
    }
    interface Prompt {
      name: string;
      checks: { add(check: Check, index?: number): void };
    }
    interface Policy extends Array<Prompt> {
      get(name: string): Prompt | undefined;
    }
    function base(): Policy;
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
    /** Ends the interaction: its uid can no longer be resumed. */
    destroy(): Promise<void>;
    prompt: { name: string; reasons: string[]; details: Record<string, unknown> };
    params: Record<string, string | undefined>;
    session?: { accountId?: string };
    grantId?: string;
  }

  export interface InteractionResults {
    /** remember: false makes the server's session cookie end with the browser. */
    login?: { accountId: string; remember?: boolean };
    consent?: { grantId: string };
    error?: string;
    error_description?: string;
  }

  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    proxy: boolean;
    /** The server's Koa application: `request` is the prototype of its requests. */
    app: {
      request: object;
      createContext(
        request: IncomingMessage,
        response: ServerResponse,
      ): { cookies: { get(name: string, options?: { signed?: boolean }): string | undefined } };
    };
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
    Session: { find(id: string): Promise<ProviderSession | undefined> };
  }
}
