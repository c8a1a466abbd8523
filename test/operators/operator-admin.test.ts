import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR_ROLES } from '../../src/auth/permissions.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import {
  ACTIVE_ID,
  ADA,
  adminClient,
  CLOSED_ID,
  GINA,
  importExample,
  OPERATOR,
} from '../helpers/directory.js';
import { runCustos } from '../helpers/process.js';

// Each CLI step spawns a process, which takes seconds on a loaded machine.
const CLI_TIMEOUT_MS = 180_000;
const secretKey = randomBytes(32).toString('base64');
let t: TestApp;
let authorization: string;

beforeAll(async () => {
  t = await createTestApp({ CUSTOS_SECRET_KEY: secretKey });
  await importExample(t);
  await t.ctx.directory.closeAccount(CLOSED_ID, OPERATOR);
  authorization = await adminClient(t);
});
afterAll(() => t?.close());

const api = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
  t.app.inject({ method, url, headers: { authorization }, ...(payload ? { payload } : {}) });

describe('console roles through the admin API', () => {
  it('grants, lists and revokes, each change audited with the API client', async () => {
    const granted = await api('POST', `/admin/operators/${ADA}/roles`, { role: 'auditor' });
    expect(granted.statusCode).toBe(200);
    expect(granted.json()).toEqual({ accountId: ADA, role: 'auditor', changed: true });
    expect((await api('POST', `/admin/operators/${ADA}/roles`, { role: 'auditor' })).json().changed).toBe(
      false,
    );

    const listed = await api('GET', '/admin/operators');
    expect(listed.json().values).toContainEqual(
      expect.objectContaining({
        accountId: ADA,
        role: 'auditor',
        grantedBy: expect.stringMatching(/^api-client:/),
      }),
    );

    const revoked = await api('DELETE', `/admin/operators/${ADA}/roles/auditor`);
    expect(revoked.json()).toEqual({ accountId: ADA, role: 'auditor', changed: true });
    expect((await api('DELETE', `/admin/operators/${ADA}/roles/auditor`)).json().changed).toBe(false);
    const actions = await t.ctx.database.db
      .selectFrom('audit_events')
      .select(['action', 'actor_type'])
      .where('account_id', '=', ADA)
      .where('action', 'like', 'admin.operator-role-%')
      .orderBy('id')
      .execute();
    expect(actions).toEqual([
      { action: 'admin.operator-role-granted', actor_type: 'api-client' },
      { action: 'admin.operator-role-revoked', actor_type: 'api-client' },
    ]);
  });

  it('refuses an unknown role naming the roles, an unknown account, a closed one, and callers without the scope', async () => {
    const bad = await api('POST', `/admin/operators/${ADA}/roles`, { role: 'admin' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().field).toBe('role');
    for (const role of OPERATOR_ROLES) expect(bad.json().errorMessage).toContain(role);
    expect((await api('POST', '/admin/operators/nobody/roles', { role: 'owner' })).statusCode).toBe(404);
    expect((await api('POST', `/admin/operators/${CLOSED_ID}/roles`, { role: 'owner' })).statusCode).toBe(
      409,
    );
    const anonymous = await t.app.inject({ method: 'GET', url: '/admin/operators' });
    expect(anonymous.statusCode).toBe(401);
  });
});

describe('custos operator', () => {
  const env = () => ({ DATABASE_URL: t.database.url, CUSTOS_SECRET_KEY: secretKey });

  it(
    'grants, lists and revokes through the same service; refuses an unknown role',
    async () => {
      const grant = await runCustos(['operator', 'grant', GINA, '--role', 'reviewer'], env());
      expect(grant).toMatchObject({ code: 0, stdout: `Granted reviewer to ${GINA}\n` });
      expect(await t.ctx.operators.rolesOf(GINA)).toEqual(['reviewer']);

      const list = await runCustos(['operator', 'list'], env());
      expect(list.stdout).toMatch(new RegExp(`^${GINA} {2}reviewer {2}granted \\S+ by operator:cli$`, 'm'));

      const revoke = await runCustos(['operator', 'revoke', GINA, '--role', 'reviewer'], env());
      expect(revoke).toMatchObject({ code: 0, stdout: `Revoked reviewer from ${GINA}\n` });
      expect(await t.ctx.operators.rolesOf(GINA)).toEqual([]);

      const typo = await runCustos(['operator', 'grant', ACTIVE_ID, '--role', 'root'], env());
      expect(typo.code).toBe(1);
      expect(typo.stderr).toContain('role must be one of reviewer, privacy-officer, auditor, owner');
    },
    CLI_TIMEOUT_MS,
  );
});
