/**
 * The associated data each stored secret is encrypted under (see crypto/secret-box.ts):
 * a ciphertext only decrypts on the row it was written for.
 */
export const secretContext = {
  installation: (installationId: string) => `installation:${installationId}:shared-secret`,
  webhook: (appKey: string) => `app:${appKey}:webhook-secret`,
};
