import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { BUSY_ELSEWHERE, Worker, type WorkerTask } from '../../src/worker/worker.js';
import { until } from '../helpers/wait.js';

/** Long enough that no test here waits for it: only a poke or a stop wakes a sleep. */
const POLL_MS = 60_000;
const log = pino({ level: 'silent' });

/** A task that answers each call with the next of `answers` (then 0), counting the calls. */
function scripted(answers: number[]): WorkerTask & { calls: number } {
  const task = {
    name: 'scripted',
    calls: 0,
    async runOnce() {
      return answers[task.calls++] ?? 0;
    },
  };
  return task;
}

/** Whether `promise` settles within `ms`. */
const settlesWithin = (promise: Promise<unknown>, ms: number) =>
  Promise.race([promise.then(() => true), sleep(ms).then(() => false)]);

async function pokeRepeatedly(worker: Worker): Promise<void> {
  for (let i = 0; i < 5; i++) {
    worker.poke();
    await sleep(20);
  }
}

describe('the worker', () => {
  it('runs an idle task again when poked', async () => {
    const task = scripted([0]);
    const worker = new Worker([task], POLL_MS, log);
    worker.start();
    try {
      await until(() => task.calls === 1, { timeoutMs: 2000, message: 'the first run' });
      worker.poke();
      await until(() => task.calls === 2, { timeoutMs: 2000, message: 'the run after the poke' });
    } finally {
      expect(await settlesWithin(worker.stop(), 2000)).toBe(true);
    }
  });

  it('leaves a task whose work another process is doing alone until the poll interval, pokes or not', async () => {
    const task = scripted([BUSY_ELSEWHERE]);
    const worker = new Worker([task], POLL_MS, log);
    worker.start();
    await until(() => task.calls === 1, { timeoutMs: 2000, message: 'the first run' });
    await pokeRepeatedly(worker);
    expect(task.calls).toBe(1);
    // A stop still ends the sleep at once.
    expect(await settlesWithin(worker.stop(), 2000)).toBe(true);
  });

  it('backs off after a failure, pokes or not, and a stop ends the back-off', async () => {
    let calls = 0;
    const errors: string[] = [];
    const failing: WorkerTask = {
      name: 'failing',
      async runOnce() {
        calls++;
        throw new Error('down');
      },
    };
    const worker = new Worker([failing], POLL_MS, log, (task) => errors.push(task));
    worker.start();
    await until(() => calls === 1, { timeoutMs: 2000, message: 'the first run' });
    await pokeRepeatedly(worker);
    expect(calls).toBe(1);
    expect(errors).toEqual(['failing']);
    // Then it tries again (the back-off is a second).
    await until(() => calls === 2, { timeoutMs: 5000, message: 'the retry after the back-off' });
    expect(await settlesWithin(worker.stop(), 2000)).toBe(true);
  });

  it('drains until no task has work; a task that finds its work taken counts as having none', async () => {
    const busy = scripted([3, 1, 0]);
    const elsewhere = scripted([BUSY_ELSEWHERE, BUSY_ELSEWHERE, BUSY_ELSEWHERE]);
    await new Worker([busy, elsewhere], POLL_MS, log).drain();
    expect(busy.calls).toBe(3);
    expect(elsewhere.calls).toBe(3);
  });

  it("drains through a task's drainOnce where it has one (it waits for the other process)", async () => {
    const runs = scripted([BUSY_ELSEWHERE]);
    const drains = scripted([2, 0]);
    const task: WorkerTask = {
      name: 'waiting',
      runOnce: () => runs.runOnce(),
      drainOnce: () => drains.runOnce(),
    };
    await new Worker([task], POLL_MS, log).drain();
    expect(drains.calls).toBe(2);
    expect(runs.calls).toBe(0);
  });
});
