import type { TestApp } from './app.js';

/** Appends `n` operator entries to the audit log: a log of a known length to checkpoint and cut. */
export function appendEntries(t: TestApp, n: number): Promise<void> {
  return t.ctx.audit.append(
    Array.from({ length: n }, (_, i) => ({
      actor: { type: 'operator' as const, id: 'cli' },
      action: 'admin.test-entry' as const,
      details: { n: i },
    })),
  );
}
