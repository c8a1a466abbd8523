/**
 * Accounts whose processing is restricted (GDPR art. 18) or that are deactivated pending
 * erasure: the Email API discloses nothing of them. Implemented by src/dsr, wired in context.ts.
 */
export interface AccountRestrictions {
  /** The restricted ones among `accountIds`. */
  listRestricted(accountIds: readonly string[]): Promise<ReadonlySet<string>>;
}

export const NO_RESTRICTIONS: AccountRestrictions = { listRestricted: async () => new Set() };
