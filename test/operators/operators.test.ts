import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR_ROLES, PERMISSIONS, permissionsOf, ROLE_PERMISSIONS } from '../../src/auth/permissions.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { ACTIVE_ID, ADA, CLOSED_ID, GINA, importExample, OPERATOR } from '../helpers/directory.js';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
  await importExample(t);
  await t.ctx.directory.closeAccount(CLOSED_ID, OPERATOR);
});
afterAll(() => t.close());

const auditOf = (accountId: string) =>
  t.ctx.database.db
    .selectFrom('audit_events')
    .select(['actor_type', 'actor_id', 'action', 'account_id', 'details'])
    .where('account_id', '=', accountId)
    .where('action', 'like', 'admin.operator-role-%')
    .orderBy('id')
    .execute();

describe('the permission map', () => {
  it('gives each role what the console issue describes', () => {
    expect(ROLE_PERMISSIONS.reviewer).toEqual(['read', 'access:decide']);
    expect([...permissionsOf(['privacy-officer'])].sort()).toEqual(
      PERMISSIONS.filter((p) => p !== 'roles:manage').sort(),
    );
    // The auditor changes nothing.
    expect(ROLE_PERMISSIONS.auditor.every((p) => p === 'read' || p.endsWith(':read'))).toBe(true);
    expect(ROLE_PERMISSIONS.owner).toEqual(['read', 'roles:manage']);
    // Only the owner manages roles.
    for (const role of OPERATOR_ROLES)
      expect(ROLE_PERMISSIONS[role].includes('roles:manage')).toBe(role === 'owner');
  });

  it('adds up the permissions of several roles, and none for no role', () => {
    expect([...permissionsOf(['reviewer', 'owner'])].sort()).toEqual([
      'access:decide',
      'read',
      'roles:manage',
    ]);
    expect(permissionsOf([]).size).toBe(0);
  });
});

describe('granting and revoking roles', () => {
  it('grants a role with its audit entry, once', async () => {
    expect(await t.ctx.operators.grant(ADA, 'reviewer', OPERATOR)).toBe(true);
    expect(await t.ctx.operators.grant(ADA, 'reviewer', OPERATOR)).toBe(false);
    expect(await t.ctx.operators.rolesOf(ADA)).toEqual(['reviewer']);
    expect(await auditOf(ADA)).toEqual([
      {
        actor_type: 'operator',
        actor_id: 'test',
        action: 'admin.operator-role-granted',
        account_id: ADA,
        details: '{"role":"reviewer"}',
      },
    ]);
  });

  it('lists who holds which role and who granted it', async () => {
    await t.ctx.operators.grant(GINA, 'owner', { type: 'api-client', id: 'client-1' });
    await t.ctx.operators.grant(GINA, 'auditor', OPERATOR);
    const list = await t.ctx.operators.list();
    expect(list.filter((g) => g.accountId === GINA)).toEqual([
      { accountId: GINA, role: 'auditor', grantedAt: expect.any(String), grantedBy: 'operator:test' },
      { accountId: GINA, role: 'owner', grantedAt: expect.any(String), grantedBy: 'api-client:client-1' },
    ]);
  });

  it('revokes a role with its audit entry; revoking again changes nothing', async () => {
    await t.ctx.operators.grant(ACTIVE_ID, 'privacy-officer', OPERATOR);
    expect(await t.ctx.operators.revoke(ACTIVE_ID, 'privacy-officer', OPERATOR)).toBe(true);
    expect(await t.ctx.operators.revoke(ACTIVE_ID, 'privacy-officer', OPERATOR)).toBe(false);
    expect(await t.ctx.operators.rolesOf(ACTIVE_ID)).toEqual([]);
    expect((await auditOf(ACTIVE_ID)).map((e) => e.action)).toEqual([
      'admin.operator-role-granted',
      'admin.operator-role-revoked',
    ]);
  });

  it('refuses an unknown role, an unknown account and a closed account, naming the field', async () => {
    await expect(t.ctx.operators.grant(ADA, 'admin', OPERATOR)).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      field: 'role',
    });
    await expect(t.ctx.operators.revoke(ADA, 'root', OPERATOR)).rejects.toMatchObject({ field: 'role' });
    await expect(t.ctx.operators.grant('nobody', 'reviewer', OPERATOR)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      field: 'accountId',
    });
    await expect(t.ctx.operators.grant(CLOSED_ID, 'reviewer', OPERATOR)).rejects.toMatchObject({
      code: 'CONFLICT',
      field: 'accountId',
    });
  });

  it('ignores a stored role name this version does not know (fails closed)', async () => {
    await t.ctx.database.db
      .insertInto('operator_roles')
      .values({
        account_id: CLOSED_ID,
        role: 'superuser',
        granted_at: '2026-01-01T00:00:00.000Z',
        granted_by: 'x',
      })
      .execute();
    expect(await t.ctx.operators.rolesOf(CLOSED_ID)).toEqual([]);
    expect((await t.ctx.operators.list()).some((g) => g.accountId === CLOSED_ID)).toBe(false);
  });
});
