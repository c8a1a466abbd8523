import type { AuditActor, AuditLog } from '../audit/audit.service.js';
import type { OperatorRoleSource } from '../auth/operator-roles.port.js';
import { isOperatorRole, OPERATOR_ROLES, type OperatorRole } from '../auth/permissions.js';
import type { Database } from '../db/dialect.js';
import { AppError } from '../errors/app-error.js';
import type { AccountDirectory } from './accounts.port.js';
import * as repo from './operator.repository.js';

export interface RoleGrant {
  accountId: string;
  role: OperatorRole;
  grantedAt: string;
  /** `<actor type>:<actor id>`, as in the audit log. */
  grantedBy: string;
}

function checkRole(role: string): OperatorRole {
  if (!isOperatorRole(role))
    throw new AppError('VALIDATION_FAILED', `role must be one of ${OPERATOR_ROLES.join(', ')}`, {
      field: 'role',
    });
  return role;
}

/**
 * Who holds which console role. Granting and revoking are operator actions: each change
 * commits with its audit entry. The auth plugin reads roles through `rolesOf` on every
 * console request, so a revocation takes effect at the next request.
 */
export class OperatorService implements OperatorRoleSource {
  constructor(
    private readonly database: Database,
    private readonly audit: AuditLog,
    private readonly accounts: AccountDirectory,
  ) {}

  async rolesOf(accountId: string): Promise<OperatorRole[]> {
    // A role name this version no longer knows gives nothing (fails closed).
    return (await repo.findRoles(this.database.db, accountId)).filter(isOperatorRole);
  }

  /** Grants `role`; false when the account already held it (nothing changes, nothing is logged). */
  async grant(accountId: string, role: string, actor: AuditActor): Promise<boolean> {
    const checked = checkRole(role);
    const account = await this.accounts.getAccount(accountId);
    if (!account.active)
      throw new AppError('CONFLICT', 'A closed account cannot hold a console role', { field: 'accountId' });
    return this.database.writeTransaction(async (trx) => {
      const granted = await repo.insertRole(trx, {
        account_id: accountId,
        role: checked,
        granted_at: new Date().toISOString(),
        granted_by: `${actor.type}:${actor.id}`,
      });
      if (granted)
        await this.audit.appendWithin(trx, [
          { actor, action: 'admin.operator-role-granted', accountId, details: { role: checked } },
        ]);
      return granted;
    });
  }

  /** Revokes `role`; false when the account did not hold it. */
  async revoke(accountId: string, role: string, actor: AuditActor): Promise<boolean> {
    const checked = checkRole(role);
    return this.database.writeTransaction(async (trx) => {
      const revoked = await repo.deleteRole(trx, accountId, checked);
      if (revoked)
        await this.audit.appendWithin(trx, [
          { actor, action: 'admin.operator-role-revoked', accountId, details: { role: checked } },
        ]);
      return revoked;
    });
  }

  async list(): Promise<RoleGrant[]> {
    const rows = await repo.listRoles(this.database.db);
    return rows.flatMap((r) =>
      isOperatorRole(r.role)
        ? [{ accountId: r.account_id, role: r.role, grantedAt: r.granted_at, grantedBy: r.granted_by }]
        : [],
    );
  }
}
