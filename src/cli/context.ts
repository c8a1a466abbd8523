import pino from 'pino';
import type { Config } from '../config.js';
import { type Context, createContext } from '../context.js';
import { loggerOptions } from '../logger.js';

/**
 * Runs one operator command over the same context as `serve`: the same services, so the
 * command and its admin API twin take the same path (checks, transaction, audit entry).
 * Background work stays off: what a command hands to the worker waits for a `serve` or
 * `worker` process. The database is migrated first where `serve` would migrate it. Logs go
 * to standard error, so standard output carries the command's answer alone.
 */
export async function withContext<T>(config: Config, fn: (ctx: Context) => Promise<T>): Promise<T> {
  const log = pino(loggerOptions(config.logLevel), pino.destination({ dest: 2, sync: true }));
  const ctx = await createContext(config, { migrate: config.autoMigrate, worker: false, log });
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}
