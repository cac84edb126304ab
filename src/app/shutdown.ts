import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { dropAllSse } from '../http/sse.js';
import type { Runtime } from './runtime.js';

/** How often connections that went idle during the drain are closed (see below). */
const IDLE_SWEEP_MS = 50;

export interface GracefulCloseParts {
  app: FastifyInstance;
  runtime: Runtime;
  /** Everything in flight gets this long (RAGD_SHUTDOWN_TIMEOUT_MS); then it is cut off. */
  deadlineMs: number;
  logger: Logger;
  /** Runs after the HTTP server has closed, before the runtime's pools and stores close. */
  afterHttp?: () => void;
}

/**
 * Stops a server without losing work, within one deadline shared by every part:
 *
 * 1. The listener closes (no new connections); requests already in flight run on, streaming
 *    answers included (task-progress streams, which never end by themselves, are ended at once).
 * 2. At the same time the pipeline stops leasing: running stages finish, or are aborted at the
 *    deadline and their leases handed back; query jobs do the same.
 * 3. At the deadline every connection still open is dropped.
 * 4. Then pools, queue and store close.
 */
export async function gracefulClose(parts: GracefulCloseParts): Promise<void> {
  const { app, runtime, deadlineMs, logger } = parts;
  const deadline = Date.now() + deadlineMs;
  // Node's server.close() closes the connections idle at that moment only. A keep-alive
  // connection whose response finishes later would hold close() for the whole keep-alive
  // timeout, so the ones that went idle since are closed as the drain goes on.
  const sweep = setInterval(() => app.server.closeIdleConnections(), IDLE_SWEEP_MS);
  const force = setTimeout(() => {
    logger.warn({ deadline_ms: deadlineMs }, 'shutdown deadline passed: dropping open connections');
    dropAllSse(app.server);
    app.server.closeAllConnections();
  }, deadlineMs);
  const step = async (name: string, work: Promise<void>) => {
    await work;
    logger.info({ step: name, ms: deadlineMs - (deadline - Date.now()) }, 'shutdown step done');
  };
  try {
    await Promise.all([
      step('http drained', app.close()),
      step('pipeline stopped', runtime.pipeline.stop(deadlineMs)),
      step('query jobs stopped', runtime.query.jobs.close(deadlineMs)),
    ]);
  } finally {
    clearInterval(sweep);
    clearTimeout(force);
  }
  parts.afterHttp?.();
  await step('pools and store closed', runtime.close(Math.max(0, deadline - Date.now())));
}
