import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { buildHttpApp } from '../http/app.js';
import { healthRoutes } from '../http/routes/health.js';
import { createMetrics } from '../observability/metrics/index.js';
import { AuthService } from '../services/auth-service.js';
import { healthChecks, metricsSources } from './observability.js';
import { createRuntime, type RuntimeRoles } from './runtime.js';
import type { RunningServer } from './server.js';
import { gracefulClose } from './shutdown.js';
import { yieldWorkerProcessToQueries } from '../workers/thread-priority.js';

/**
 * `ragd worker`: a cluster process that runs pipeline stages and query jobs and serves only its
 * probes (/healthz, /readyz, /metrics) on RAGD_PORT, for the orchestrator and Prometheus.
 */
export async function startWorker(config: Config, logger: Logger, roles: RuntimeRoles): Promise<RunningServer> {
  // Only bulk work here: API nodes (and query-job workers) on the same machine get the CPU first.
  if (!roles.queryJobs) yieldWorkerProcessToQueries();
  const runtime = await createRuntime(config, logger, { roles });
  if (runtime.mode !== 'cluster') {
    await runtime.close();
    throw new Error(
      'ragd worker runs beside API nodes on a shared PostgreSQL and Redis: set RAGD_DATABASE_URL and RAGD_REDIS_URL (embedded, `ragd serve` already runs every stage)',
    );
  }
  const metrics = createMetrics(metricsSources(runtime));
  const app = await buildHttpApp({
    config,
    logger,
    services: {
      kbs: runtime.kbs,
      documents: runtime.documents,
      tasks: runtime.tasks,
      admission: runtime.admission,
      // Only public probe routes exist here; closed auth keeps it that way if one is ever added.
      auth: new AuthService(runtime.tenancy.store, config, false),
      health: healthChecks(runtime),
    },
    routes: [healthRoutes],
    extraRoutes: [metrics.routes],
    instrument: [metrics.instrumentHttp],
    tenantLimits: runtime.tenantLimits,
  });
  await app.listen({ port: config.port, host: config.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  let closing: Promise<void> | null = null;
  return {
    runtime,
    app,
    url,
    close() {
      closing ??= gracefulClose({ app, runtime, deadlineMs: config.shutdownTimeoutMs, logger, afterHttp: () => metrics.close() });
      return closing;
    },
  };
}
