import type { Logger } from 'pino';
import type { ProviderLane } from '../providers/lane.js';
import { recordFinishedSpan, SpanKind } from './tracing.js';

/**
 * Listeners on the provider lanes' events. A lane emits synchronously inside run(), so each
 * listener runs in the caller's async context: a span's parent is whatever was active for the
 * caller (the HTTP request, a query phase, a pipeline stage job), and a log line carries the
 * caller's request id.
 */

/** A CLIENT span per outbound model call. */
export function traceLanes(lanes: readonly ProviderLane[]): void {
  for (const lane of lanes) {
    lane.on('settled', (info) => {
      const failed = info.outcome === 'error' || info.outcome === 'rejected';
      recordFinishedSpan(`${info.lane} call`, {
        startTime: Date.now() - info.durationMs,
        kind: SpanKind.CLIENT,
        attributes: {
          'ragd.provider': info.lane,
          'ragd.priority': info.priority,
          'ragd.outcome': info.outcome,
          ...(info.kind ? { 'error.type': info.kind } : {}),
        },
        ...(failed ? { error: info.error } : {}),
      });
    });
  }
}

/** Retries and breaker changes are what an operator looks for when a provider misbehaves. */
export function logLanes(lanes: readonly ProviderLane[], logger: Logger): void {
  for (const lane of lanes) {
    lane.on('retry', ({ lane: provider, attempt, delayMs, kind, reason, requestId }) =>
      logger.warn(
        { ...(requestId ? { reqId: requestId } : {}), provider, attempt, delay_ms: Math.round(delayMs), kind, reason },
        'provider call failed; retrying',
      ),
    );
    lane.on('breaker', ({ lane: provider, state }) =>
      (state === 'open' ? logger.warn.bind(logger) : logger.info.bind(logger))({ provider, state }, `circuit breaker ${state}`),
    );
  }
}
