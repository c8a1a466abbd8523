/**
 * The use cases that only send people alerts: a request asking for nothing else can do without
 * the Email API, through the notification relay (docs/notifications.md), which needs no
 * approval and never discloses an address. The console's review queue and the vendor docs
 * point such requests there.
 */
export const ALERT_USE_CASES: readonly string[] = [
  'error-reports',
  'security-alerts',
  'user-subscribed-alerts',
];

/** True when `useCases` is not empty and every one of them is an alert use case. */
export function onlyAlertUseCases(useCases: readonly (string | { id: string })[]): boolean {
  return (
    useCases.length > 0 &&
    useCases.every((useCase) => ALERT_USE_CASES.includes(typeof useCase === 'string' ? useCase : useCase.id))
  );
}
