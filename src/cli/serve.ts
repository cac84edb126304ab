import type { Logger } from 'pino';
import { createLogger } from '../app/logger.js';
import { ALL_ROLES } from '../app/runtime.js';
import { startServer, type RunningServer } from '../app/server.js';
import type { Config } from '../config/config.js';

/** Time past RAGD_SHUTDOWN_TIMEOUT_MS after which a stuck shutdown is abandoned. */
const WATCHDOG_GRACE_MS = 10_000;

/**
 * `ragd serve`: the HTTP API. Embedded, the same process runs the pipeline and query jobs; in
 * cluster mode it is an API node and runs neither unless `--worker` asks for both (a small
 * deployment in one process per machine).
 */
export async function serve(config: Config, opts: { worker: boolean }): Promise<void> {
  const logger = createLogger(config.logLevel);
  const server = await startServer(config, logger, opts.worker ? { roles: ALL_ROLES } : {});
  const { mode, roles } = server.runtime;
  logger.info(
    { url: server.url, mode, stages: roles.stages, query_jobs: roles.queryJobs, ...(mode === 'embedded' ? { data_dir: config.dataDir } : {}), embedder: server.runtime.embedder.id },
    'ragd is listening',
  );
  closeOnSignals(server, config, logger);
}

/**
 * SIGTERM/SIGINT: finish in-flight work within RAGD_SHUTDOWN_TIMEOUT_MS, then exit 0. A second
 * signal exits at once.
 */
export function closeOnSignals(server: Pick<RunningServer, 'close'>, config: Config, logger: Logger): void {
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
