import type { AccessRequestBody } from '../../src/access/access.schemas.js';
import type { TestApp } from './app.js';
import { OPERATOR } from './directory.js';

/** A complete request (docs/wire-contracts.md#request-fields) for `appKey`; override what a test varies. */
export function accessRequest(appKey: string, overrides: Partial<AccessRequestBody> = {}): AccessRequestBody {
  return {
    companyName: 'Vendor Ltd',
    appName: 'Mailer',
    appKey,
    listingUrl: 'https://marketplace.test/apps/mailer',
    privacyPolicyUrl: 'https://vendor.test/privacy',
    termsUrl: 'https://vendor.test/terms',
    storesPersonalData: false,
    useCases: ['error-reports', 'security-alerts'],
    description: 'Sends error reports and security alerts to the users they concern.',
    privacyPolicyExcerpt: 'We use your email address only to send you the alerts you need.',
    ...overrides,
  };
}

/** Puts an app on the Email API allow list the way the programme does: an auto-approved request. */
export async function approveForEmailApi(t: TestApp, appKey: string): Promise<string> {
  const { id, status } = await t.ctx.access.submit(accessRequest(appKey), OPERATOR);
  if (status !== 'auto-approved') throw new Error(`expected auto-approval, got ${status}`);
  return id;
}
