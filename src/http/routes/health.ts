import type { HealthCheck } from '../../services/health.js';
import { Type } from '@sinclair/typebox';
import type { RoutePlugin } from '../app.js';
import { ErrorBody } from '../schemas.js';

// Loose on purpose: the body is written by the handler below; the schema documents it and must not reshape it.
const Checks = Type.Object({}, { additionalProperties: true, description: 'outcome per dependency: ok, degraded (works with less: see `degraded`), failed or timeout' });
const healthzSchema = { tags: ['health'], summary: 'Liveness', response: { 200: Type.Object({ status: Type.Literal('ok') }, { description: 'the process is up' }) } };
const readyzSchema = {
  tags: ['health'],
  summary: 'Readiness: every dependency answers',
  response: {
    200: Type.Object({ status: Type.Literal('ready'), checks: Checks }, { additionalProperties: true, description: 'every dependency answers' }),
    503: Type.Object({ error: ErrorBody.properties.error, checks: Checks }, { additionalProperties: true, description: 'a dependency failed or timed out' }),
  },
};

type CheckOutcome = 'ok' | 'degraded' | 'failed' | 'timeout';

async function runCheck(check: HealthCheck, timeoutMs: number): Promise<{ outcome: CheckOutcome; err?: unknown; degraded?: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    // `Promise.resolve().then` also turns a synchronous throw inside check() into a rejection.
    const result = await Promise.race([Promise.resolve().then(() => check.check()), timeout]);
    if (result === 'timeout') return { outcome: 'timeout' };
    return result ? { outcome: 'degraded', degraded: result.degraded } : { outcome: 'ok' };
  } catch (err) {
    return { outcome: 'failed', err };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `/healthz`: the process is up (no dependency is touched, so a slow database never gets the
 * process restarted). `/readyz`: every dependency answers within its budget, run in parallel.
 * The body names what failed but not why: the reason (hosts, driver messages) goes to the log.
 * Both are logged at warn only, so probes do not flood the log.
 */
export const healthRoutes: RoutePlugin = async (app, { services, timing }) => {
  app.get('/healthz', { logLevel: 'warn', schema: healthzSchema }, async () => ({ status: 'ok' }));

  app.get('/readyz', { logLevel: 'warn', schema: readyzSchema }, async (request, reply) => {
    const results = await Promise.all(
      services.health.map(async (c) => ({ name: c.name, failure: c.failure, ...(await runCheck(c, timing.readyTimeoutMs)) })),
    );
    const checks: Record<string, CheckOutcome> = {};
    const degraded: Record<string, string> = {};
    for (const r of results) {
      checks[r.name] = r.outcome;
      if (r.degraded) degraded[r.name] = r.degraded;
    }
    const failing = results.filter((r) => r.outcome === 'failed' || r.outcome === 'timeout');
    if (failing.length === 0) return { status: 'ready', checks, ...(Object.keys(degraded).length > 0 ? { degraded } : {}) };

    for (const f of failing) {
      request.log.warn({ check: f.name, outcome: f.outcome, err: f.err }, 'readiness check failed');
    }
    const what = failing
      .map((f) => (f.outcome === 'timeout' ? `${f.name} (no answer within ${timing.readyTimeoutMs} ms)` : `${f.name} (${f.failure ?? 'unreachable'})`))
      .join(', ');
    return reply.code(503).send({ error: { code: 'not_ready', message: `not ready: ${what}` }, checks });
  });
};
