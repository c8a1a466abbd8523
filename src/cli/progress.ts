import { SingleBar } from 'cli-progress';
import type { ProgressListener } from '../shared/progress.js';

/** How often a plain progress line is printed when the output is not a terminal. */
const PLAIN_LINE_EVERY_MS = 1000;

export interface Progress {
  /** Give it to the long operation: it reports `done` of `total` as it goes. */
  listener: ProgressListener;
  /** Ends the display with the last state; call it once the operation is over, even on failure. */
  stop(): void;
}

/**
 * The progress of a long command on standard output (cli-progress). On a terminal, a bar
 * redrawn in place; in a pipe or a file, plain lines (`import: 500/2000 records`): one at
 * the start, one a second while it runs, one at the end, with no control characters, so
 * logs and `grep` read them. The display starts at the operation's first report.
 */
export function progress(label: string, unit: string, stream: NodeJS.WriteStream = process.stdout): Progress {
  const terminal = stream.isTTY === true;
  const bar = new SingleBar({
    stream,
    format: terminal
      ? `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | ETA {eta_formatted}`
      : `${label}: {value}/{total} ${unit}`,
    noTTYOutput: true,
    notTTYSchedule: PLAIN_LINE_EVERY_MS,
    hideCursor: terminal,
    // In a pipe the last line ends the output; on a terminal the final bar stays on screen.
    clearOnComplete: !terminal,
    // On Ctrl-C the bar gives the cursor back before the process ends.
    gracefulExit: terminal,
  });
  let started = false;
  return {
    listener(done, total) {
      if (!started) {
        started = true;
        bar.start(total, done);
        return;
      }
      bar.setTotal(total);
      bar.update(done);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** Runs `operation` with a progress display, stopped however the operation ends. */
export async function withProgress<T>(
  label: string,
  unit: string,
  operation: (onProgress: ProgressListener) => Promise<T>,
): Promise<T> {
  const shown = progress(label, unit);
  try {
    return await operation(shown.listener);
  } finally {
    shown.stop();
  }
}
