/**
 * A count of the changes this process made to apps' credentials (installations, OAuth
 * clients): the credential cache (app-credentials.ts) trusts an entry only while the count
 * is the one it was read under, so a change made here counts from the next request. The
 * count moves when a change is written and again once its transaction has committed, so a
 * read that ran between the two (PostgreSQL) is not trusted either.
 */
let changes = 0;

export function credentialsChanged(): void {
  changes += 1;
}

export function credentialChangeCount(): number {
  return changes;
}
