import type { DsrState, DsrType } from './dsr.rules.js';

/** How the pages name types and states, in the person's words rather than the workflow's. */
export const TYPE_LABELS: Record<DsrType, string> = {
  access: 'Access and portability (a copy of your data)',
  rectification: 'Rectification (correct your data)',
  erasure: 'Erasure (delete your account)',
  restriction: 'Restriction (stop processing your data)',
  objection: 'Objection to direct marketing',
};

export const SHORT_TYPE_LABELS: Record<DsrType, string> = {
  access: 'Access',
  rectification: 'Rectification',
  erasure: 'Erasure',
  restriction: 'Restriction',
  objection: 'Objection',
};

export const STATE_LABELS: Record<DsrState, string> = {
  'awaiting-verification': 'Checking identity',
  'in-progress': 'In progress',
  'awaiting-apps': 'Waiting for apps',
  compiling: 'Preparing the export',
  'grace-period': 'Grace period (cancellable)',
  erasing: 'Erasing',
  completed: 'Completed',
  denied: 'Refused',
  cancelled: 'Cancelled',
};

/** A date (YYYY-MM-DD) or an instant, as a person reads it: "2 March 2026". */
export function humanDate(value: string | null): string {
  if (!value) return '—';
  const date = new Date(value.length === 10 ? `${value}T12:00:00Z` : value);
  return date.toLocaleDateString('en-GB', {
    day: 'numeric',
    month: 'long',
    year: 'numeric',
    timeZone: 'UTC',
  });
}

/** An instant with its time (UTC), for timelines. */
export function humanTime(value: string | null): string {
  if (!value) return '—';
  return `${humanDate(value)} ${value.slice(11, 16)} UTC`;
}

/** The free text of a request and its timeline: what the person wrote, and operators' notes. */
interface FreeText extends StepErrors {
  details: string | null;
  extensionReason: string | null;
  outcomeReason: string | null;
  timeline: { note: string | null }[];
}

/** What a failed step left on a request: an exception's message, which may quote its data. */
interface StepErrors {
  lastError: string | null;
  attentionReason: string | null;
}

const STEP_FAILED = 'a step failed: ';

/**
 * A request's step errors as a console role without `accounts:read` sees them: that a step
 * failed, not the message, which may quote what the step was handling (an address a mail
 * server refused, a field of the profile).
 */
export function withoutStepErrors<T extends StepErrors>(request: T): T {
  return {
    ...request,
    lastError: request.lastError === null ? null : 'a step failed',
    attentionReason: request.attentionReason?.startsWith(STEP_FAILED)
      ? 'a step failed'
      : request.attentionReason,
  };
}

/**
 * A request as a console role without `accounts:read` sees it: its dates, states and apps,
 * but none of its free text. The person's own words (a rectification says what the profile
 * should hold) and the notes written about it are personal data, and the plain `read`
 * permission shows no account profiles (src/auth/permissions.ts).
 */
export function withoutFreeText<T extends FreeText>(request: T): T {
  return {
    ...withoutStepErrors(request),
    details: null,
    extensionReason: null,
    outcomeReason: null,
    timeline: request.timeline.map((entry) => ({ ...entry, note: null })),
  };
}

export const pageHelpers = { TYPE_LABELS, SHORT_TYPE_LABELS, STATE_LABELS, humanDate, humanTime };
