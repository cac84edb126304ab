import { Counter, Gauge, type Registry } from 'prom-client';
import { latencyHistogram } from './latency.js';
import type { BreakerState, ProviderLane } from '../../providers/lane.js';

/**
 * Outbound model calls, per provider lane (llm, embed, rerank: a fixed, small set of label
 * values). Latency, outcomes and failure kinds come from the lane's events; in-flight, queue
 * and breaker state are read from its stats at scrape time.
 */

const BREAKER_STATES: readonly BreakerState[] = ['closed', 'half_open', 'open'];

export function registerProviderMetrics(registry: Registry, lanes: readonly ProviderLane[]): void {
  const calls = latencyHistogram(
    registry,
    'ragd_provider_call_duration_seconds',
    'Outbound model calls from queueing to the final answer, retries included, by provider, priority and outcome (ok, error, rejected by the breaker, aborted by the caller)',
    ['provider', 'priority', 'outcome'],
  );
  const errors = new Counter({
    name: 'ragd_provider_errors_total',
    help: 'Outbound model calls that failed, by provider and kind (timeout, rate_limited, upstream_error, network, client_error, breaker_open, other)',
    labelNames: ['provider', 'kind'],
    registers: [registry],
  });
  const retries = new Counter({
    name: 'ragd_provider_retries_total',
    help: 'Attempts retried after a retryable failure, by provider and the kind of that failure',
    labelNames: ['provider', 'kind'],
    registers: [registry],
  });

  for (const lane of lanes) {
    lane.on('settled', (info) => {
      calls.observe({ provider: info.lane, priority: info.priority, outcome: info.outcome }, info.durationMs / 1000);
      if (info.kind) errors.inc({ provider: info.lane, kind: info.kind });
    });
    lane.on('retry', (info) => retries.inc({ provider: info.lane, kind: info.kind }));
    // Every series exists from the start, so a rate() has a zero to start from.
    for (const outcome of ['ok', 'error'] as const) calls.zero({ provider: lane.name, priority: 'interactive', outcome });
  }

  const laneGauge = (name: string, help: string, read: (lane: ProviderLane) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['provider'],
      registers: [registry],
      collect() {
        for (const lane of lanes) this.set({ provider: lane.name }, read(lane));
      },
    });
  laneGauge('ragd_provider_in_flight', 'Requests to the provider in flight right now', (l) => l.stats().inFlight);
  laneGauge('ragd_provider_queue_length', "Calls waiting in the provider's limiter (concurrency slot, per-minute budget or a Retry-After pause)", (l) => l.stats().queued);
  laneGauge('ragd_provider_concurrency_limit', 'Calls the provider lane lets run at once now (pinned, or where the adaptive limit stands)', (l) => l.stats().limit);
  laneGauge('ragd_provider_backing_off', 'Calls sleeping before a retry', (l) => l.stats().backingOff);

  new Gauge({
    name: 'ragd_provider_breaker_state',
    help: "The provider's circuit breaker: 1 for its current state (closed, half_open, open), 0 for the others",
    labelNames: ['provider', 'state'],
    registers: [registry],
    collect() {
      for (const lane of lanes) {
        const current = lane.stats().breaker;
        for (const state of BREAKER_STATES) this.set({ provider: lane.name, state }, state === current ? 1 : 0);
      }
    },
  });
}
