/** What operators need of the directory: whether an account exists and is open (the directory service implements it). */
export interface AccountDirectory {
  /** Throws NOT_FOUND naming `accountId` for an unknown account. */
  getAccount(accountId: string): Promise<{ active: boolean }>;
}
