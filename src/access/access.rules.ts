import type { AccessStatus, UseCase } from './access.schemas.js';

/**
 * The programme's state machine (docs/wire-contracts.md#approval-and-its-limits). `submitted` is
 * transient: a request is decided in the transaction that files it. Widening an approval takes
 * a new request (new functionality needs one, same page), so approved requests never change use cases.
 */
const TRANSITIONS: Record<AccessStatus, readonly AccessStatus[]> = {
  submitted: ['auto-approved', 'auto-rejected', 'in-review'],
  'in-review': ['approved', 'rejected'],
  'auto-approved': ['revoked'],
  approved: ['revoked'],
  'auto-rejected': [],
  rejected: [],
  revoked: [],
};

/** The states in which an app may use the Email API. */
export const GRANTING_STATUSES: readonly AccessStatus[] = ['auto-approved', 'approved'];

/**
 * The states of a request still waiting for a decision. An app has at most one: a reviewer
 * decides what it asks once, and a vendor cannot bury its request under copies.
 */
export const OPEN_STATUSES: readonly AccessStatus[] = ['submitted', 'in-review'];

/** The window over which an app's requests are counted against CUSTOS_ACCESS_REQUESTS_PER_DAY. */
export const FILING_WINDOW_MS = 24 * 3_600_000;

export function canTransition(from: AccessStatus, to: AccessStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * The prerequisite that an app storing PD reports its account ids every cycle
 * (docs/wire-contracts.md#prerequisites).
 */
export type ReportingCheck = 'met' | 'not-met' | 'pending' | 'not-required';

export interface Evaluation {
  status: 'auto-approved' | 'auto-rejected' | 'in-review';
  reason: string;
}

/**
 * Decides a complete request. Never-approved use cases reject outright, whatever else is
 * asked; all-auto use cases approve only when every prerequisite is known to be met. A
 * pending reporting check (the register cannot tell) goes to a person rather than being
 * approved on trust: approval discloses every member's address, so doubt must not approve.
 */
export function evaluateRequest(useCases: UseCase[], reporting: ReportingCheck): Evaluation {
  const never = useCases.filter((u) => u.decision === 'never');
  if (never.length > 0) {
    const list = never.map((u) => `${u.id} (${u.functionality})`).join(', ');
    return { status: 'auto-rejected', reason: `Use cases that are never approved: ${list}` };
  }
  const reviewed = useCases.filter((u) => u.decision !== 'auto');
  if (reviewed.length > 0) {
    return {
      status: 'in-review',
      reason: `Use cases reviewed by a person: ${reviewed.map((u) => u.id).join(', ')}`,
    };
  }
  if (reporting === 'not-met') {
    return {
      status: 'in-review',
      reason: 'The app stores personal data but has not reported account ids within its cycle',
    };
  }
  if (reporting === 'pending') {
    return {
      status: 'in-review',
      reason: 'The personal-data reporting check is pending: a person confirms it',
    };
  }
  return { status: 'auto-approved', reason: 'Every use case is approved automatically' };
}
