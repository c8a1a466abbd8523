/** One checkpoint for the witness URL, as a Standard Webhooks message signed with `secrets`. */
export interface WitnessMessage {
  url: string;
  secrets: string[];
  /** `webhook-id`: the checkpoint's id, so a receiver drops a repeat. */
  id: string;
  payload: string;
  timeoutMs: number;
  allowPrivate: boolean;
}

/**
 * How the audit log sends a checkpoint to the witness URL: the webhooks' signed POST
 * (webhooks/webhook-post.ts), wired in context.ts. Resolves with the status whatever it is;
 * rejects on network errors and timeouts. Declared here because webhooks sit above the
 * audit log: their operator actions (redelivery, re-enabling) write audit entries.
 */
export type WitnessPost = (message: WitnessMessage) => Promise<{ status: number }>;
