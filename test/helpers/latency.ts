import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';

export type Probe = () => Promise<{ statusCode: number }>;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/**
 * Calls every probe in turn, every 50 ms, until `done()`; each must answer 200. `between`
 * runs after each round (a write, say). Returns each probe's latencies and the event loop's
 * largest delay meanwhile, both in milliseconds.
 */
export async function probeUntil(
  probes: Record<string, Probe>,
  done: () => boolean,
  between: (round: number) => Promise<void> = async () => {},
) {
  const latencies: Record<string, number[]> = Object.fromEntries(Object.keys(probes).map((k) => [k, []]));
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  for (let round = 0; !done(); round++) {
    for (const [name, probe] of Object.entries(probes)) {
      const started = performance.now();
      expect((await probe()).statusCode, name).toBe(200);
      latencies[name]?.push(performance.now() - started);
    }
    await between(round);
    await sleep(50);
  }
  loopDelay.disable();
  return { latencies, loopDelayMaxMs: loopDelay.max / 1e6 };
}

/**
 * Each probe answered in well under 50 ms (the median, over at least `rounds` calls); the
 * maximum allows for a loaded machine, yet a process frozen on a lock would show seconds.
 */
export function expectPromptAnswers(result: Awaited<ReturnType<typeof probeUntil>>, rounds: number) {
  for (const [name, values] of Object.entries(result.latencies)) {
    expect(values.length, name).toBeGreaterThan(rounds);
    expect(median(values), name).toBeLessThan(50);
    expect(Math.max(...values), name).toBeLessThan(1000);
  }
  expect(result.loopDelayMaxMs).toBeLessThan(1000);
}
