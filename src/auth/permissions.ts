/**
 * What a person with a console role may do. A route declares the one permission it needs
 * (`{kind: 'operator', permission}`); roles are bundles of permissions, so a new page picks
 * a permission and the role table below stays the single place that says who gets it.
 */
export const PERMISSIONS = [
  /** See the console: queues, apps and compliance, notices, clients (no account profiles). */
  'read',
  /** Approve, reject or revoke Email API access. */
  'access:decide',
  /** Act on apps: webhook redelivery, re-enabling, secret rotation, uninstalling. */
  'apps:manage',
  /** Look up an account's profile (a disclosure of personal data, audited). */
  'accounts:read',
  /** Close an account (GDPR art. 17). */
  'accounts:close',
  /** Add consent notice versions. */
  'notices:manage',
  /** Create and revoke API clients' tokens. */
  'tokens:manage',
  /** Read and verify the audit log. */
  'audit:read',
  /** Grant and revoke console roles. */
  'roles:manage',
  /** Work data-subject requests: verify identity, extend, complete, deny, expedite, lift restrictions. */
  'dsr:manage',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const OPERATOR_ROLES = ['reviewer', 'privacy-officer', 'auditor', 'owner'] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];

/**
 * Least privilege with separation of duties: the owner manages roles but acts on nothing
 * else; whoever manages roles and acts on data holds both roles, visibly.
 */
export const ROLE_PERMISSIONS: Record<OperatorRole, readonly Permission[]> = {
  /** Reviews Email API access requests. */
  reviewer: ['read', 'access:decide'],
  /** The privacy team: everything but role management. */
  'privacy-officer': PERMISSIONS.filter((p) => p !== 'roles:manage'),
  /** Reads everything, changes nothing. */
  auditor: ['read', 'accounts:read', 'audit:read'],
  /** Decides who holds which role. */
  owner: ['read', 'roles:manage'],
};

export function isOperatorRole(value: string): value is OperatorRole {
  return (OPERATOR_ROLES as readonly string[]).includes(value);
}

/** Every permission the roles give together. */
export function permissionsOf(roles: Iterable<OperatorRole>): ReadonlySet<Permission> {
  const permissions = new Set<Permission>();
  for (const role of roles) for (const p of ROLE_PERMISSIONS[role]) permissions.add(p);
  return permissions;
}
