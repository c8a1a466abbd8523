import type { Logger } from 'pino';

/** A unit of background work: process one batch, report how many items it handled. */
export interface WorkerTask {
  name: string;
  runOnce(): Promise<number>;
}

const ERROR_BACKOFF_MS = 1000;

/**
 * Runs background tasks until stopped. Work is data in tables; a task takes a batch,
 * processes it in a transaction, and is called again at once while it finds work. When
 * idle the worker sleeps until `poke()` (same-process producers call it after committing)
 * or the poll interval (for work produced by other processes).
 */
export class Worker {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private poked = false;

  constructor(
    private readonly tasks: WorkerTask[],
    private readonly pollMs: number,
    private readonly log: Logger,
    private readonly onError: (task: string) => void = () => {},
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  poke(): void {
    this.poked = true;
    this.wake?.();
  }

  /** Stops the loop after its current batch, then runs every task until none has work left. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    await this.drain();
  }

  /** Processes until no task has work. */
  async drain(): Promise<void> {
    for (;;) {
      let done = 0;
      for (const task of this.tasks) done += await task.runOnce();
      if (done === 0) return;
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      this.poked = false;
      let done = 0;
      for (const task of this.tasks) {
        try {
          done += await task.runOnce();
        } catch (error) {
          this.onError(task.name);
          this.log.error({ err: error, task: task.name }, 'background task failed; retrying');
          await this.sleep(ERROR_BACKOFF_MS);
        }
      }
      if (done === 0 && !this.poked && this.running) await this.sleep(this.pollMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
  }
}
