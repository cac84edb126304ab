import type { ProviderLane } from '../providers/lane.js';
import { recordFinishedSpan, SpanKind } from './tracing.js';

/**
 * A CLIENT span per outbound model call. The lane reports a call when it settles, synchronously
 * inside run(), so the span's parent is whatever was active for the caller: the HTTP request,
 * a query phase, or a pipeline stage job.
 */
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
