/**
 * How a long operation tells its caller how far it got: `done` of `total` units. A command
 * line draws it; an HTTP route has no use for it and passes none.
 */
export type ProgressListener = (done: number, total: number) => void;

/** Options of a long operation that can be followed and stopped between its bounded steps. */
export interface LongRun {
  onProgress?: ProgressListener;
  /** Aborted: stop after the current step; what was committed stays. */
  signal?: AbortSignal;
}
