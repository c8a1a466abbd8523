import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.js';

export async function findRoles(db: Kysely<DB>, accountId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('operator_roles')
    .select('role')
    .where('account_id', '=', accountId)
    .execute();
  return rows.map((r) => r.role);
}

/** False when the account already held the role. */
export async function insertRole(
  db: Kysely<DB>,
  row: { account_id: string; role: string; granted_at: string; granted_by: string },
): Promise<boolean> {
  const result = await db
    .insertInto('operator_roles')
    .values(row)
    .onConflict((oc) => oc.columns(['account_id', 'role']).doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** False when the account did not hold the role. */
export async function deleteRole(db: Kysely<DB>, accountId: string, role: string): Promise<boolean> {
  const result = await db
    .deleteFrom('operator_roles')
    .where('account_id', '=', accountId)
    .where('role', '=', role)
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export function listRoles(db: Kysely<DB>) {
  return db
    .selectFrom('operator_roles')
    .select(['account_id', 'role', 'granted_at', 'granted_by'])
    .orderBy('account_id')
    .orderBy('role')
    .execute();
}
