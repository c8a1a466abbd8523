import { createQueryStringHash, encodeSymmetric, fromMethodAndUrl } from 'atlassian-jwt';
import { ADMIN_SCOPE } from '../../src/auth/scopes.js';
import type { ImportFile } from '../../src/directory/import.schemas.js';
import { basic, createToken, type TestApp } from './app.js';

export const ADA = '5b10ac8d82e05b22cc7d4ef5';
/**
 * The published test ids (docs/wire-contracts.md#identifying-users): an active account and one that
 * gets closed.
 */
export const ACTIVE_ID = '5be24ad8b1653240376955d2';
export const CLOSED_ID = '5be24ba3f91c106033269289';
export const GINA = 'globex:0f1e2d3c-gina';

export const SECRETS = {
  tsAcme: 'ts-acme-shared-secret-0123456789abcdef0123',
  tsGlobex: 'ts-globex-shared-secret-0123456789abcdef01',
  mailerAcme: 'mailer-acme-shared-secret-0123456789abcdef',
  timesheetsClient: 'timesheets-client-secret-0123456789abcdef',
  mailerClient: 'mailer-client-secret-0123456789abcdef0123',
  readerClient: 'reader-client-secret-0123456789abcdef0123',
};

/**
 * A directory with two organizations and two sites. Timesheets is installed on both sites;
 * Mailer (Email API) and Reporter (no read:user scope) only on acme-prod. Gina is a member
 * of globex-prod only.
 */
export function exampleDirectory(): ImportFile {
  return {
    organizations: [
      { id: 'acme', name: 'Acme', domains: ['acme.test'] },
      { id: 'globex', name: 'Globex', domains: ['globex.test'] },
    ],
    accounts: [
      {
        accountId: ADA,
        accountType: 'atlassian',
        organization: 'acme',
        email: 'ada@acme.test',
        name: 'Ada Lovelace',
        nickname: 'ada',
        jobTitle: 'Engineer',
        department: 'R&D',
        location: 'London',
        timeZone: 'Europe/London',
        locale: 'en-GB',
        visibility: { email: 'private', name: 'public' },
      },
      {
        accountId: ACTIVE_ID,
        accountType: 'atlassian',
        organization: 'acme',
        email: 'grace@acme.test',
        name: 'Grace Hopper',
        nickname: 'grace',
        timeZone: 'America/New_York',
        locale: 'en-US',
        visibility: { name: 'private', timeZone: 'organization' },
      },
      {
        accountId: CLOSED_ID,
        accountType: 'atlassian',
        organization: 'acme',
        email: 'leaver@acme.test',
        name: 'Lee Leaver',
        nickname: 'lee',
      },
      {
        accountId: GINA,
        accountType: 'customer',
        organization: 'globex',
        email: 'gina@globex.test',
        nickname: 'gina',
      },
    ],
    sites: [
      { id: 'acme-prod', url: 'https://acme.example.net', members: [ADA, ACTIVE_ID, CLOSED_ID] },
      { id: 'globex-prod', url: 'https://globex.example.net', members: [GINA] },
    ],
    apps: [
      {
        key: 'com.vendor.timesheets',
        name: 'Timesheets',
        vendor: 'Vendor Ltd',
        privacyPolicyUrl: 'https://vendor.test/privacy',
        termsUrl: 'https://vendor.test/terms',
        storesPersonalData: true,
        webhook: { url: 'https://vendor.test/hooks' },
        oauth: {
          clientId: 'timesheets',
          clientSecret: SECRETS.timesheetsClient,
          scopes: ['report:personal-data', 'read:user'],
        },
      },
      {
        key: 'com.vendor.mailer',
        name: 'Mailer',
        vendor: 'Vendor Ltd',
        privacyPolicyUrl: 'https://vendor.test/privacy',
        termsUrl: 'https://vendor.test/terms',
        storesPersonalData: false,
        oauth: { clientId: 'mailer', clientSecret: SECRETS.mailerClient, scopes: ['read:user'] },
      },
      {
        key: 'com.vendor.reporter',
        name: 'Reporter',
        vendor: 'Other Vendor',
        storesPersonalData: true,
        oauth: { clientId: 'reporter', clientSecret: SECRETS.readerClient, scopes: ['report:personal-data'] },
      },
    ],
    installations: [
      {
        app: 'com.vendor.timesheets',
        site: 'acme-prod',
        clientKey: 'ts-acme-1',
        sharedSecret: SECRETS.tsAcme,
      },
      {
        app: 'com.vendor.timesheets',
        site: 'globex-prod',
        clientKey: 'ts-globex-1',
        sharedSecret: SECRETS.tsGlobex,
      },
      {
        app: 'com.vendor.mailer',
        site: 'acme-prod',
        clientKey: 'mailer-acme',
        sharedSecret: SECRETS.mailerAcme,
      },
      {
        app: 'com.vendor.reporter',
        site: 'acme-prod',
        clientKey: 'reporter-acme',
        sharedSecret: 'reporter-acme-shared-secret-0123456789abcd',
      },
    ],
  };
}

/**
 * The example directory plus one app per OAuth client id, each installed on acme-prod as
 * `<id>-acme` with `sharedSecret`; with `redirectUris`, each client takes part in user grants
 * at `https://<id>.vendor.test/callback`.
 */
export function exampleDirectoryWithClients(
  clientIds: readonly string[],
  secrets: { client: string; shared: string },
  options: { redirectUris?: boolean } = {},
): ImportFile {
  const file = exampleDirectory();
  const apps = file.apps ?? [];
  const installations = file.installations ?? [];
  for (const clientId of clientIds) {
    apps.push({
      key: `com.vendor.${clientId}`,
      name: clientId,
      vendor: 'Vendor Ltd',
      storesPersonalData: false,
      oauth: {
        clientId,
        clientSecret: secrets.client,
        scopes: ['read:user'],
        ...(options.redirectUris ? { redirectUris: [`https://${clientId}.vendor.test/callback`] } : {}),
      },
    });
    installations.push({
      app: `com.vendor.${clientId}`,
      site: 'acme-prod',
      clientKey: `${clientId}-acme`,
      sharedSecret: secrets.shared,
    });
  }
  return { ...file, apps, installations };
}

export const OPERATOR = { type: 'operator', id: 'test' } as const;

export async function importExample(t: TestApp, file: ImportFile = exampleDirectory()) {
  return t.ctx.importer.importDirectory(file, OPERATOR);
}

/** Runs `check` while organization `id` has a blank name, then gives it `name` back. */
export async function withBlankOrganizationName(
  t: TestApp,
  id: string,
  name: string,
  check: () => Promise<void>,
): Promise<void> {
  const rename = (to: string) =>
    t.ctx.database.db.updateTable('organizations').set({ name: to }).where('id', '=', id).execute();
  await rename(' ');
  try {
    await check();
  } finally {
    await rename(name);
  }
}

/** A Connect JWT as apps build it with atlassian-jwt: HS256, iss = clientKey, qsh bound to the request. */
export function connectJwt(
  clientKey: string,
  secret: string,
  method: string,
  url: string,
  claims: Record<string, unknown> = {},
): string {
  const now = Math.floor(Date.now() / 1000);
  const qsh = createQueryStringHash(fromMethodAndUrl(method, url));
  return encodeSymmetric({ iss: clientKey, iat: now, exp: now + 180, qsh, ...claims }, secret);
}

/** A Connect JWT whose signature is garbage: for checks that must not depend on a valid one. */
export function unsignedJwt(claims: Record<string, unknown>): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}.${Buffer.alloc(32).toString('base64url')}`;
}

/** GET `url` as the installation `clientKey` with a fresh Connect JWT. */
export function getAsInstallation(t: TestApp, clientKey: string, secret: string, url: string, claims = {}) {
  return t.app.inject({
    method: 'GET',
    url,
    headers: { authorization: `JWT ${connectJwt(clientKey, secret, 'GET', url, claims)}` },
  });
}

export async function oauthToken(t: TestApp, clientId: string, clientSecret: string, scope?: string) {
  const res = await t.app.inject({
    method: 'POST',
    url: '/oauth/token',
    payload: { grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret, scope },
  });
  if (res.statusCode !== 200) throw new Error(`token request failed: ${res.statusCode} ${res.body}`);
  return res.json().access_token as string;
}

export function getWithBearer(t: TestApp, token: string, url: string) {
  return t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
}

export async function adminClient(t: TestApp, email = 'privacy@operator.test') {
  const { token } = await createToken(t, { email, scopes: [ADMIN_SCOPE] });
  return basic(email, token);
}

export const userUrl = (accountId: string) => `/rest/api/3/user?accountId=${encodeURIComponent(accountId)}`;
