/** What sign-in needs of the directory (the directory service implements it, context.ts wires it). */
export interface SignInAccounts {
  /** Throws NOT_FOUND naming `accountId` for an unknown account. */
  getAccount(accountId: string): Promise<{ active: boolean }>;
  /** The open account holding this email, if any. */
  findOpenAccountIdByEmail(email: string): Promise<string | undefined>;
}
