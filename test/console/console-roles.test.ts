import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  OPERATOR_ROLES,
  type OperatorRole,
  type Permission,
  ROLE_PERMISSIONS,
} from '../../src/auth/permissions.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { consoleDirectory, grantConsoleRoles, NO_ROLE_ID, OPERATOR_IDS } from '../helpers/console.js';
import { importExample } from '../helpers/directory.js';
import { WebClient } from '../helpers/web.js';

/**
 * Every console page and action with the permission it must require. The allowed calls
 * aim at things that do not exist (or send forms the rules refuse), so that walking the
 * matrix changes nothing: an allowed call answers anything but 401/403, a refused one 403.
 */
const ACTIONS: {
  name: string;
  method: 'GET' | 'POST';
  url: string;
  form?: Record<string, string>;
  permission: Permission;
}[] = [
  { name: 'overview', method: 'GET', url: '/console', permission: 'read' },
  { name: 'review queue', method: 'GET', url: '/console/access', permission: 'read' },
  {
    name: 'approve',
    method: 'POST',
    url: '/console/access/requests/ear_missing/approve',
    form: { reason: 'ok' },
    permission: 'access:decide',
  },
  {
    name: 'reject',
    method: 'POST',
    url: '/console/access/requests/ear_missing/reject',
    form: { reason: 'no' },
    permission: 'access:decide',
  },
  {
    name: 'revoke access',
    method: 'POST',
    url: '/console/access/apps/com.vendor.missing/revoke',
    form: { reason: 'no' },
    permission: 'access:decide',
  },
  { name: 'apps', method: 'GET', url: '/console/apps', permission: 'read' },
  { name: 'app', method: 'GET', url: '/console/apps/com.vendor.mailer', permission: 'read' },
  {
    name: 'redeliver',
    method: 'POST',
    url: '/console/apps/com.vendor.mailer/messages/msg_missing/redeliver',
    permission: 'apps:manage',
  },
  {
    name: 're-enable webhook',
    method: 'POST',
    url: '/console/apps/com.vendor.missing/webhook/enable',
    permission: 'apps:manage',
  },
  {
    name: 'rotate secret',
    method: 'POST',
    url: '/console/apps/com.vendor.missing/webhook/rotate',
    permission: 'apps:manage',
  },
  { name: 'account look-up', method: 'GET', url: '/console/accounts', permission: 'accounts:read' },
  { name: 'account', method: 'GET', url: '/console/accounts/missing-account', permission: 'accounts:read' },
  {
    name: 'close account',
    method: 'POST',
    url: '/console/accounts/missing-account/close',
    form: { confirm: 'missing-account' },
    permission: 'accounts:close',
  },
  { name: 'audit log', method: 'GET', url: '/console/audit', permission: 'audit:read' },
  { name: 'verify chain', method: 'POST', url: '/console/audit/verify', permission: 'audit:read' },
  { name: 'clients', method: 'GET', url: '/console/clients', permission: 'read' },
  {
    name: 'create token',
    method: 'POST',
    url: '/console/clients/tokens',
    form: { email: 'not-an-address', scopes: 'admin:custos' },
    permission: 'tokens:manage',
  },
  {
    name: 'revoke token',
    method: 'POST',
    url: '/console/clients/tokens/tok_missing/revoke',
    permission: 'tokens:manage',
  },
  { name: 'notices', method: 'GET', url: '/console/notices', permission: 'read' },
  {
    name: 'add notice',
    method: 'POST',
    url: '/console/notices',
    form: { key: '9-not-a-key', version: 'v1', text: 'x' },
    permission: 'notices:manage',
  },
];

let t: TestApp;
const clients = new Map<OperatorRole | 'none', WebClient>();

beforeAll(async () => {
  t = await createTestApp();
  await importExample(t, consoleDirectory());
  await grantConsoleRoles(t);
  for (const [who, accountId] of [...Object.entries(OPERATOR_IDS), ['none', NO_ROLE_ID]] as const) {
    const client = new WebClient(t);
    await client.signIn(accountId);
    // Any page gives the browser its CSRF token; the sign-out form is on every page.
    await client.get('/console');
    // A person without a role is refused the overview too: the refusal page carries the token.
    if (!client.csrfToken) throw new Error(`no CSRF token for ${who}`);
    clients.set(who as OperatorRole | 'none', client);
  }
});
afterAll(() => t.close());

describe('console roles: each role × each page and action', () => {
  for (const role of [...OPERATOR_ROLES, 'none'] as const) {
    const granted: readonly Permission[] = role === 'none' ? [] : ROLE_PERMISSIONS[role];
    for (const action of ACTIONS) {
      const allowed = granted.includes(action.permission);
      it(`${role}: ${action.name} is ${allowed ? 'allowed' : 'refused (403)'}`, async () => {
        const client = clients.get(role) as WebClient;
        const res =
          action.method === 'GET'
            ? await client.get(action.url)
            : await client.post(action.url, action.form ?? {});
        if (allowed) {
          expect([401, 403]).not.toContain(res.statusCode);
          expect(res.statusCode).toBeLessThan(500);
        } else {
          expect(res.statusCode).toBe(403);
          expect(res.body).toContain(action.permission);
        }
      });
    }
  }
});
