/**
 * Seed 004: "If the app is storing personal data the app must report the accountIDs that
 * have been collected and stored every 15 days." The holdings register answers this
 * (ComplianceService); 'unknown' (an app the register does not know) is recorded as a
 * pending check, and such a request goes to a person rather than being approved.
 */
export interface ReportingCompliance {
  reportedWithinCycle(appKey: string): Promise<'yes' | 'no' | 'unknown'>;
}
