import type { Visibility } from '../directory/account.model.js';

/*
 * The words of the privacy centre: plain language for people, never the API's names. Pure
 * data and functions, shared by the pages' service and their templates.
 */

/** Each profile field as people call it (the directory's one wording). */
export { FIELD_LABELS } from '../directory/account.model.js';

/** The three choices, said as who can see. */
export const VISIBILITY_LABELS: Record<Visibility, string> = {
  public: 'Anyone, apps included',
  organization: 'People in my organization',
  private: 'Only me',
};

/** Consent keys people know by what they are about; an unknown key is shown as it is. */
const CONSENT_LABELS: Record<string, string> = {
  generalMarketingOptIn: 'News and offers by email',
};

export function consentLabel(key: string): string {
  return CONSENT_LABELS[key] ?? key;
}

/** How a choice was recorded, in words. */
export function channelLabel(channel: string): string {
  return channel === 'privacy-centre' ? 'here, in your privacy centre' : 'on a form or in a product';
}

const DATE_TIME = new Intl.DateTimeFormat('en-GB', {
  dateStyle: 'long',
  timeStyle: 'short',
  timeZone: 'UTC',
});

/** A stored ISO time as people read it: "1 December 2026 at 17:05 UTC". */
export function formatWhen(iso: string | null | undefined): string {
  if (!iso) return '';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : `${DATE_TIME.format(date)} UTC`;
}
