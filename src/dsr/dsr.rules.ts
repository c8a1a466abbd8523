/**
 * The data-subject request workflow: explicit states and the only transitions between them.
 * Every state that is not final has an owner (who must act) and a time limit; a request past
 * its limit goes on the console's "needs attention" list, so none can wait unseen. The graph
 * has no cycle, so every path ends in a final state (test/dsr/dsr-rules.test.ts shows it).
 */

export const DSR_TYPES = ['access', 'rectification', 'erasure', 'restriction', 'objection'] as const;
export type DsrType = (typeof DSR_TYPES)[number];

export const DSR_STATES = [
  'awaiting-verification',
  'in-progress',
  'awaiting-apps',
  'compiling',
  'grace-period',
  'erasing',
  'completed',
  'denied',
  'cancelled',
] as const;
export type DsrState = (typeof DSR_STATES)[number];

export const FINAL_STATES: readonly DsrState[] = ['completed', 'denied', 'cancelled'];

export function isFinal(state: DsrState): boolean {
  return FINAL_STATES.includes(state);
}

const TRANSITIONS: Record<DsrState, readonly DsrState[]> = {
  // An operator checks who is asking (requests not made by the signed-in person).
  'awaiting-verification': ['in-progress', 'denied', 'cancelled'],
  // The type's own work: apps told, an edit made, a restriction or suppression applied.
  'in-progress': ['awaiting-apps', 'grace-period', 'completed', 'denied', 'cancelled'],
  // Access: holding apps may upload their part until their deadline.
  'awaiting-apps': ['compiling', 'denied'],
  // Access: the export is built.
  compiling: ['completed'],
  // Erasure: the account is deactivated and the person may still cancel.
  'grace-period': ['erasing', 'cancelled'],
  // Erasure: the account is closed and every holding app told.
  erasing: ['completed'],
  completed: [],
  denied: [],
  cancelled: [],
};

export function canTransition(from: DsrState, to: DsrState): boolean {
  return TRANSITIONS[from].includes(to);
}

export function nextStates(from: DsrState): readonly DsrState[] {
  return TRANSITIONS[from];
}

/** Who must act for a request to move on. */
export type DsrOwner = 'operator' | 'system' | 'apps' | 'person' | 'none';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** How long a step done by Custos itself may take before it counts as stalled. */
export const SYSTEM_STEP_LIMIT_MS = HOUR_MS;
/** How long an operator has to verify who is asking before the request needs attention. */
export const VERIFICATION_LIMIT_MS = 7 * DAY_MS;

export interface StateClock {
  /** When the request entered the state. */
  since: Date;
  /** The end of the request's due day, when the clock runs. */
  dueAt: Date | null;
  appsDeadlineAt: Date | null;
  graceUntil: Date | null;
}

/** The owner of a state and the time by which it must be left (null: final, no limit). */
export function ownerAndLimit(
  state: DsrState,
  type: DsrType,
  clock: StateClock,
): { owner: DsrOwner; limitAt: Date | null } {
  const after = (ms: number) => new Date(clock.since.getTime() + ms);
  switch (state) {
    case 'awaiting-verification':
      return { owner: 'operator', limitAt: after(VERIFICATION_LIMIT_MS) };
    case 'in-progress':
      // Rectification is an operator's edit; the other types' first step is Custos's own.
      return type === 'rectification'
        ? { owner: 'operator', limitAt: clock.dueAt ?? after(VERIFICATION_LIMIT_MS) }
        : { owner: 'system', limitAt: after(SYSTEM_STEP_LIMIT_MS) };
    case 'awaiting-apps':
      return { owner: 'apps', limitAt: clock.appsDeadlineAt ?? after(SYSTEM_STEP_LIMIT_MS) };
    case 'grace-period':
      return { owner: 'person', limitAt: clock.graceUntil ?? after(SYSTEM_STEP_LIMIT_MS) };
    case 'compiling':
    case 'erasing':
      return { owner: 'system', limitAt: after(SYSTEM_STEP_LIMIT_MS) };
    case 'completed':
    case 'denied':
    case 'cancelled':
      return { owner: 'none', limitAt: null };
  }
}

/**
 * The states a person may still cancel from: before anything irreversible happened. Erasure
 * is cancellable until its grace period ends (the documented platform's 14 days).
 */
export const CANCELLABLE_STATES: readonly DsrState[] = ['awaiting-verification', 'grace-period'];
