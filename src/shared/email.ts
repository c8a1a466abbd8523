/**
 * The one form of an email address Custos compares and stores: API clients sign in with it,
 * the directory keeps accounts' emails in it, consent is recorded under it.
 */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}
