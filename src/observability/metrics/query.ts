import type { EventEmitter } from 'node:events';
import { Counter, type Registry } from 'prom-client';
import { hotLatencyHistogram } from './latency.js';
import type { CacheStats } from '../../services/query/lru.js';
import type { QueryEvents } from '../../services/query/query-service.js';

/** The query path: phase durations of answered queries, and cache lookups. */

export interface QuerySources {
  query: { events: EventEmitter<QueryEvents> };
  /** Caches by name: `answer`, `embedding`. */
  caches: Record<string, { stats(): CacheStats }>;
}

const PHASES = ['retrieve', 'rerank', 'generate', 'total'] as const;

export function registerQueryMetrics(registry: Registry, sources: QuerySources): void {
  const phases = hotLatencyHistogram(
    registry,
    'ragd_query_phase_duration_seconds',
    'Answered queries by phase (retrieve, rerank, generate, total) and whether the answer came from the cache',
    ['phase', 'cached'],
  );
  sources.query.events.on('answered', ({ cached, timings }) => {
    for (const phase of PHASES) {
      // A phase that did not run (no reranker, a cached answer) is not a zero-second sample.
      if (phase !== 'total' && (cached || timings[phase] === 0)) continue;
      phases.seriesOf(phase, String(cached)).observe(timings[phase] / 1000);
    }
  });

  const caches = Object.entries(sources.caches);
  // The caches keep their own running totals; a scrape copies them (counters never go down, as
  // the caches' totals only grow).
  new Counter({
    name: 'ragd_cache_lookups_total',
    help: 'Cache lookups by cache (answer, embedding) and result (hit, miss)',
    labelNames: ['cache', 'result'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [cache, c] of caches) {
        const s = c.stats();
        this.inc({ cache, result: 'hit' }, s.hits);
        this.inc({ cache, result: 'miss' }, s.misses);
      }
    },
  });
}
