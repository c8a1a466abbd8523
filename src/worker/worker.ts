import type { Logger } from 'pino';

/**
 * What a task's `runOnce` returns when another process is doing the task's work at the
 * moment (one consent applier per database): that process takes new work too, so this loop
 * waits the poll interval, pokes or not, rather than asking again at every poke.
 */
export const BUSY_ELSEWHERE = -1;

/**
 * A unit of background work: process one batch, report how many items it handled (or
 * BUSY_ELSEWHERE).
 */
export interface WorkerTask {
  name: string;
  runOnce(): Promise<number>;
  /**
   * Finish all of this task's available work before a graceful stop (accepted consent must
   * be applied). Tasks whose work waits on other systems (webhook delivery) leave it, safe
   * in the database, to the next start.
   */
  drainOnStop?: boolean;
  /**
   * What `drain` calls instead of `runOnce`, for a task whose `runOnce` may answer
   * BUSY_ELSEWHERE: waits for the other process's batch and does what is left, so that a
   * drain leaves no work behind.
   */
  drainOnce?(): Promise<number>;
  /** Called when the worker stops: a long run (a clean-up job) ends early, its work left for later. */
  stop?(): void;
}

const ERROR_BACKOFF_MS = 1000;

/**
 * Runs background tasks until stopped. Work is data in tables; a task takes a batch,
 * processes it, and is called again at once while it finds work. Each task has its own
 * loop, so a slow task (a webhook endpoint timing out) never holds up another (applying
 * consent). When idle a task sleeps until `poke()` (same-process producers call it after
 * committing) or the poll interval (for work produced by other processes).
 */
export class Worker {
  private running = false;
  private loops: Promise<void>[] = [];
  /** Called by poke(). */
  private readonly wakers = new Set<() => void>();
  /** Called by stop(): every sleep ends, including those a poke does not end. */
  private readonly sleepers = new Set<() => void>();

  constructor(
    private readonly tasks: WorkerTask[],
    private readonly pollMs: number,
    private readonly log: Logger,
    private readonly onError: (task: string) => void = () => {},
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loops = this.tasks.map((task) => this.run(task));
  }

  poke(): void {
    for (const wake of this.wakers) wake();
  }

  /** Stops every loop after its current batch, then drains the tasks that must finish. */
  async stop(): Promise<void> {
    this.running = false;
    for (const task of this.tasks) task.stop?.();
    this.poke();
    for (const wake of this.sleepers) wake();
    await Promise.all(this.loops);
    await this.drain(this.tasks.filter((t) => t.drainOnStop));
  }

  /** Processes until none of the given tasks has work. */
  async drain(tasks: WorkerTask[] = this.tasks): Promise<void> {
    for (;;) {
      let done = 0;
      for (const task of tasks) done += Math.max(0, await (task.drainOnce ?? task.runOnce).call(task));
      if (done === 0) return;
    }
  }

  private async run(task: WorkerTask): Promise<void> {
    let poked = false;
    const wake = () => {
      poked = true;
    };
    this.wakers.add(wake);
    try {
      while (this.running) {
        poked = false;
        let done = 0;
        try {
          done = await task.runOnce();
        } catch (error) {
          this.onError(task.name);
          this.log.error({ err: error, task: task.name }, 'background task failed; retrying');
          if (this.running) await this.sleep(ERROR_BACKOFF_MS, { pokes: false });
        }
        if (!this.running) break;
        if (done === BUSY_ELSEWHERE) await this.sleep(this.pollMs, { pokes: false });
        else if (done === 0 && !poked) await this.sleep(this.pollMs);
      }
    } finally {
      this.wakers.delete(wake);
    }
  }

  /** Sleeps for `ms`, or until stopped, or (unless `pokes` is false) until poked. */
  private sleep(ms: number, { pokes = true } = {}): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.sleepers.add(done);
      if (pokes) this.wakers.add(done);
    });
  }
}
