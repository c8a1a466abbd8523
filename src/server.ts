import { type App, buildApp } from './app.js';
import { CONSENT_HUB_SCOPE } from './auth/scopes.js';
import type { Config } from './config.js';
import { createContext } from './context.js';

export interface Running {
  url: string;
  stop(): Promise<void>;
}

/**
 * `custos serve`: the HTTP API plus, by default, an in-process worker so one command is a
 * complete installation. Stopping finishes in-flight requests, commits everything already
 * accepted and applies it before the database is closed.
 */
export async function startServer(config: Config): Promise<Running> {
  const ctx = await createContext(config, { migrate: config.autoMigrate });
  let app: App | undefined;
  try {
    app = await buildApp(ctx);
    // The authorization server of user grants, built before listening: a signing key that
    // does not decrypt stops the start here, not a request later.
    await ctx.grants.ready();
    const url = await app.listen({ host: config.host, port: config.port });
    if (config.inProcessWorker) ctx.worker.start();
    if ((await ctx.apiClients.countClients()) === 0) {
      process.stdout.write(
        `No API clients yet. Create a token: npm run custos -- token create --email you@example.com --scope ${CONSENT_HUB_SCOPE}\n`,
      );
    }
    const started = app;
    return {
      url,
      async stop() {
        await started.close();
        await ctx.close();
      },
    };
  } catch (error) {
    // A step after building the app failed: stop answering before the database goes away,
    // and report the start's failure, not one of closing.
    try {
      await app?.close();
    } catch {}
    await ctx.close();
    throw error;
  }
}

/** `custos worker`: background work only, for running workers apart from the API. */
export async function startWorker(config: Config): Promise<Running> {
  const ctx = await createContext(config, { migrate: false });
  ctx.worker.start();
  return { url: '', stop: () => ctx.close() };
}

/**
 * Stops cleanly on SIGTERM/SIGINT, or exits non-zero if stopping takes longer than the timeout.
 * Installed before the start finishes: the server answers as soon as it listens, before the
 * start's last steps, and whoever started it may stop it from then on. A signal that arrives
 * during the start waits for it, then stops what it started, the rest of the start counted
 * in the timeout. A start that fails is left to its caller to report.
 */
export function stopOnSignals(
  starting: Promise<Running>,
  timeoutMs: number,
  log: (message: string) => void,
): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`received ${signal}, shutting down`);
    const timer = setTimeout(() => {
      log('shutdown timed out; exiting');
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    starting.then(
      (running) =>
        running.stop().then(
          () => process.exit(0),
          (error: unknown) => {
            log(`shutdown failed: ${(error as Error).message}`);
            process.exit(1);
          },
        ),
      // The caller awaits the start too, and reports its failure.
      () => {},
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
