/**
 * An app that stores personal data must report the account ids it holds every cycle
 * (docs/wire-contracts.md#prerequisites). The holdings register answers this
 * (ComplianceService); 'unknown' (an app the register does not know, or whose reports named
 * no account it can see) is recorded as a pending check, and such a request goes to a person
 * rather than being approved.
 */
export interface ReportingCompliance {
  reportedWithinCycle(appKey: string): Promise<'yes' | 'no' | 'unknown'>;
}
