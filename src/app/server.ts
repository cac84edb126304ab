import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { buildHttpApp } from '../http/app.js';
import { adminKeyRoutes } from '../http/routes/admin-keys.js';
import { adminProviderRoutes } from '../http/routes/admin-providers.js';
import { adminTenantRoutes } from '../http/routes/admin-tenants.js';
import { mcpRoutes } from '../http/routes/mcp/index.js';
import { openAiRoutes } from '../http/routes/openai/index.js';
import { consoleRoutes } from '../http/routes/console.js';
import { opsRoutes } from '../http/routes/ops.js';
import { queryRoutes } from '../http/routes/query.js';
import { DocumentReader } from '../services/document-reader.js';
import { createMetrics } from '../observability/metrics/index.js';
import { observeRequests } from '../observability/http-observer.js';
import { healthChecks, metricsSources } from './observability.js';
import { createRuntime, type Runtime, type RuntimeRoles } from './runtime.js';
import { gracefulClose } from './shutdown.js';
import { createAuth } from './tenancy.js';
import { ProviderCheck } from '../services/provider-check.js';

export interface RunningServer {
  runtime: Runtime;
  app: FastifyInstance;
  url: string;
  /** Stops accepting, lets in-flight requests and stages finish up to the deadline, closes pools. */
  close(): Promise<void>;
}

export async function startServer(config: Config, logger: Logger, opts: { roles?: RuntimeRoles } = {}): Promise<RunningServer> {
  // The whole configuration, for whoever reads the log later; the logger censors its keys.
  logger.debug({ config }, 'configuration');
  const runtime = await createRuntime(config, logger, opts);
  const auth = await createAuth(config, runtime.tenancy, logger).catch(async (err: unknown) => {
    await runtime.close();
    throw err;
  });
  const metrics = createMetrics(metricsSources(runtime));
  const app = await buildHttpApp({
    config,
    logger,
    services: {
      kbs: runtime.kbs,
      documents: runtime.documents,
      tasks: runtime.tasks,
      admission: runtime.admission,
      tickets: runtime.tickets,
      auth,
      health: healthChecks(runtime),
    },
    instrument: [observeRequests, metrics.instrumentHttp],
    tenantLimits: runtime.tenantLimits,
    extraRoutes: [
      metrics.routes,
      opsRoutes(metrics.summary),
      queryRoutes({ query: runtime.query.service, jobs: runtime.query.jobs }),
      openAiRoutes(runtime.query.service),
      mcpRoutes({ query: runtime.query.service, reader: new DocumentReader(runtime.store, runtime.documents) }),
      adminTenantRoutes(runtime.tenancy.service),
      adminKeyRoutes(runtime.tenancy.service),
      adminProviderRoutes(
        runtime.tenancy.service,
        new ProviderCheck({ providersFor: (t) => runtime.query.providers.forTenant(t), embedderFor: (t) => runtime.embedders.forTenant(t) }),
      ),
      // Last: its catch-all GET must not be mistaken for a route of any plugin above.
      consoleRoutes(),
    ],
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
      auth.stopWatching();
      closing ??= gracefulClose({ app, runtime, deadlineMs: config.shutdownTimeoutMs, logger, afterHttp: () => metrics.close() });
      return closing;
    },
  };
}
