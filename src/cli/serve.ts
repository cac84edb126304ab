import { createLogger } from '../app/logger.js';
import { startServer } from '../app/server.js';
import type { Config } from '../config/config.js';

/** Time past RAGD_SHUTDOWN_TIMEOUT_MS after which a stuck shutdown is abandoned. */
const WATCHDOG_GRACE_MS = 10_000;

/** `ragd serve`: the HTTP server plus the pipeline, in one process (the embedded default). */
export async function serve(config: Config): Promise<void> {
  const logger = createLogger(config.logLevel);
  const server = await startServer(config, logger);
  logger.info({ url: server.url, data_dir: config.dataDir, embedder: server.runtime.embedder.id }, 'ragd is listening');
  let signals = 0;
  const shutdown = (signal: string) => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    logger.info({ signal, deadline_ms: config.shutdownTimeoutMs }, 'shutting down: finishing in-flight work');
    // Everything is cut off at the deadline; this only fires if something still hangs after it
    // (a stage that ignores its abort signal): leases then expire, or the next start reclaims them.
    setTimeout(() => {
      logger.error('shutdown did not complete after its deadline: exiting now');
      logger.flush?.();
      process.exit(1);
    }, config.shutdownTimeoutMs + WATCHDOG_GRACE_MS).unref();
    server.close().then(
      () => {
        logger.info('bye');
        logger.flush?.();
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
