/**
 * Seed 004: "If the app is storing personal data the app must report the accountIDs that
 * have been collected and stored every 15 days." The holdings register answers this; until
 * it is wired in, the check cannot be made and is recorded as pending.
 */
export interface ReportingCompliance {
  reportedWithinCycle(appKey: string): Promise<'yes' | 'no' | 'unknown'>;
}

/** The answer when no register is available: unknown, so the request goes to a person. */
export const unknownReportingCompliance: ReportingCompliance = {
  reportedWithinCycle: async () => 'unknown',
};
