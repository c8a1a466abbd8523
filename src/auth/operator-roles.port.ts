import type { OperatorRole } from './permissions.js';

/** Where the auth plugin reads a person's console roles: implemented by src/operators, wired in context.ts. */
export interface OperatorRoleSource {
  rolesOf(accountId: string): Promise<readonly OperatorRole[]>;
}
