import type { JobDefinition } from '../../src/jobs/job.model.js';

/** Runs a job's handler once, as the runner would for a first attempt that nothing interrupts. */
export function runJob(definition: JobDefinition, payload: Record<string, unknown> = {}) {
  return definition.run({
    id: 1,
    name: definition.name,
    key: 'test',
    payload,
    attempt: 1,
    signal: new AbortController().signal,
  });
}
