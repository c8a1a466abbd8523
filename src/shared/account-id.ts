/**
 * Account ids: 1–128 characters of A-Z a-z 0-9 - :, opaque; `unknown` is reserved and never
 * stored (docs/wire-contracts.md#identifying-users). Every layer that reads an id from outside
 * checks it here: the directory's import, the APIs' parameters, the accounts apps report, a
 * Connect JWT's `sub`.
 */
export const ACCOUNT_ID_PATTERN = '^[A-Za-z0-9:-]{1,128}$';
/** The rule as schema keywords, with the words error messages use. */
export const ACCOUNT_ID_RULE = {
  pattern: ACCOUNT_ID_PATTERN,
  errorMessage: 'must be 1–128 characters of A-Z a-z 0-9 - :',
};
export const RESERVED_ACCOUNT_ID = 'unknown';

export function isValidAccountId(id: string): boolean {
  return new RegExp(ACCOUNT_ID_PATTERN).test(id) && id !== RESERVED_ACCOUNT_ID;
}
