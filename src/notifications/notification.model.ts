/**
 * The notification relay's rules, without storage: what a recipient's state is, what an app
 * is told of it, and whether a person's choices let a notification through.
 */

/** Stored per recipient. `unknown`: not a member of the app's sites (or no such account). */
export type RecipientState = 'pending' | 'sent' | 'suppressed' | 'unknown' | 'failed';

/** What an app is told. */
export type WireRecipientState = 'pending' | 'sent' | 'suppressed' | 'failed';

/**
 * An account the app cannot see is answered exactly like one whose owner turned the app off:
 * both are decided by the same delivery run, at the same moment, so neither the answer nor
 * its timing tells an app whether an id exists or is a member of its sites.
 */
export function wireState(state: RecipientState): WireRecipientState {
  return state === 'unknown' ? 'suppressed' : state;
}

/** The category that stands for the app as a whole in a person's choices. */
export const WHOLE_APP = '*';

export const CATEGORY_PATTERN = '^[a-z0-9][a-z0-9._-]{0,63}$';

/** A person's choices for one app: category → on/off; absent means on. */
export type AppChoices = ReadonlyMap<string, boolean>;

export function mayNotify(choices: AppChoices | undefined, category: string): boolean {
  if (!choices) return true;
  return choices.get(WHOLE_APP) !== false && choices.get(category) !== false;
}

/** The UTC day a quota counts in, and the seconds until the next one starts. */
export function quotaDay(now: Date): { day: string; secondsLeft: number } {
  const day = now.toISOString().slice(0, 10);
  const next = Date.parse(`${day}T00:00:00.000Z`) + 86_400_000;
  return { day, secondsLeft: Math.max(1, Math.ceil((next - now.getTime()) / 1000)) };
}
