import type { AccessRequestRow } from './access.repository.js';
import type { AccessRequest } from './access.schemas.js';

/** A stored request as the admin API shows it. */
export function toAccessRequest(row: AccessRequestRow): AccessRequest {
  return {
    id: row.id,
    appKey: row.app_key,
    status: row.status,
    companyName: row.company_name,
    appName: row.app_name,
    listingUrl: row.listing_url,
    privacyPolicyUrl: row.privacy_policy_url,
    termsUrl: row.terms_url,
    storesPersonalData: row.stores_personal_data === 1,
    useCases: JSON.parse(row.use_cases) as string[],
    description: row.description,
    privacyPolicyExcerpt: row.privacy_policy_excerpt,
    reportingCheck: row.reporting_check,
    reason: row.reason,
    submittedBy: row.submitted_by,
    submittedAt: row.submitted_at,
    decidedBy: row.decided_by,
    decidedAt: row.decided_at,
    revokedBy: row.revoked_by,
    revokedAt: row.revoked_at,
  };
}
