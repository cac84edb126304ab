import { Counter, type Registry } from 'prom-client';
import type { GateStats } from '../../services/admission.js';
import { labelledGauge } from './labelled-gauge.js';

/** The per-process backpressure gates (services/admission.ts): how full they are, and what they shed. */
export interface AdmissionSources {
  /** Gates by name (`query`). */
  gates: Record<string, { stats(): GateStats }>;
}

export function registerAdmissionMetrics(registry: Registry, sources: AdmissionSources): void {
  const gates = Object.entries(sources.gates);
  const gauge = (name: string, help: string, read: (s: GateStats) => number) => labelledGauge(registry, 'gate', gates, name, help, read);
  gauge('ragd_admission_active', 'Units of work holding a slot of the gate now', (s) => s.active);
  gauge('ragd_admission_queued', 'Units of work waiting for a slot of the gate', (s) => s.queued);
  // The gate keeps running totals; a counter that mirrors them on scrape stays monotonic.
  const total = (name: string, help: string, read: (s: GateStats) => number) => {
    const seen = new Map<string, number>();
    return new Counter({
      name,
      help,
      labelNames: ['gate'],
      registers: [registry],
      collect() {
        for (const [gate, g] of gates) {
          const now = read(g.stats());
          const delta = now - (seen.get(gate) ?? 0);
          if (delta > 0) this.inc({ gate }, delta);
          seen.set(gate, now);
        }
      },
    });
  };
  total('ragd_admission_admitted_total', 'Units of work the gate admitted', (s) => s.admitted);
  total('ragd_admission_rejected_total', 'Units of work the gate refused with 503 overloaded', (s) => s.rejected);
}
