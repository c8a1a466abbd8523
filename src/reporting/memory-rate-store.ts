type Callback = (error: Error | null, result?: { current: number; ttl: number }) => void;

const MAX_KEYS = 10_000;

/**
 * A fixed-window counter in this process's memory, shared by every route that uses it.
 * (The plugin's own in-memory store keeps one counter set per route, so an app could spend
 * its budget once per entry point.) Several processes need CUSTOS_REDIS_URL instead.
 */
export function sharedMemoryStore() {
  const windows = new Map<string, { current: number; startMs: number }>();
  return class SharedMemoryStore {
    incr(key: string, callback: Callback, timeWindow: number) {
      const nowMs = Date.now();
      let entry = windows.get(key);
      if (!entry || entry.startMs + timeWindow <= nowMs) {
        if (!entry && windows.size >= MAX_KEYS) {
          for (const [k, w] of windows) if (w.startMs + timeWindow <= nowMs) windows.delete(k);
        }
        entry = { current: 0, startMs: nowMs };
        windows.set(key, entry);
      }
      entry.current += 1;
      callback(null, { current: entry.current, ttl: entry.startMs + timeWindow - nowMs });
    }

    child() {
      return this;
    }
  };
}
