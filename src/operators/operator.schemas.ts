import Type from 'typebox';
import { OPERATOR_ROLES } from '../auth/permissions.js';
import { ACCOUNT_ID_RULE } from '../shared/account-id.js';

// The service names the roles in its refusal of any other value.
const Role = Type.String({
  minLength: 1,
  maxLength: 64,
  description: `One of ${OPERATOR_ROLES.join(', ')}: reviewer (access requests), privacy-officer (everything but roles), auditor (read-only), owner (roles)`,
});

export const RoleBody = Type.Object({ role: Role }, { additionalProperties: false });

export const RoleParams = Type.Object(
  { accountId: Type.String(ACCOUNT_ID_RULE), role: Role },
  { additionalProperties: false },
);

export const RoleGrant = Type.Object(
  {
    accountId: Type.String(),
    role: Type.String(),
    grantedAt: Type.String({ format: 'date-time' }),
    grantedBy: Type.String({ description: '`<actor type>:<actor id>`, as in the audit log' }),
  },
  { additionalProperties: false },
);

export const RoleGrantList = Type.Object({ values: Type.Array(RoleGrant) }, { additionalProperties: false });

export const RoleChange = Type.Object(
  {
    accountId: Type.String(),
    role: Type.String(),
    changed: Type.Boolean({ description: 'false when the account already held (or did not hold) the role' }),
  },
  { additionalProperties: false },
);
