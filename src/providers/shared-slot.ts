import { createHash } from 'node:crypto';
import type { Release, SharedProviderCap, SharedProviderCapFactory } from '../ports/limits.js';
import { CallerAbort } from './attempt.js';

/** Longest single wait between two asks, so a freed slot elsewhere is noticed soon. */
const MAX_WAIT_MS = 200;

/**
 * Waits for one slot of a provider's cap shared across the cluster (see SharedProviderCap):
 * asks, and when the cap is full or the minute's budget spent, sleeps as long as it was told
 * (with jitter, so the nodes' waiters do not ask in step) and asks again. Rejects with
 * CallerAbort when `signal` aborts, with what `stopped()` returns once the lane closes, and with
 * the cap's own error (a 503 when Redis does not answer).
 */
export async function takeSharedSlot(cap: SharedProviderCap, signal: AbortSignal | undefined, stopped: () => Error | null): Promise<Release> {
  for (;;) {
    const stop = stopped();
    if (stop) throw stop;
    if (signal?.aborted) throw new CallerAbort();
    const answer = await cap.tryTake();
    if ('release' in answer) {
      // The caller may have gone while the answer was on its way: hand the slot straight back.
      if (signal?.aborted || stopped()) {
        answer.release();
        continue;
      }
      return answer.release;
    }
    const wait = Math.min(MAX_WAIT_MS, answer.retryInMs) * (0.75 + Math.random() * 0.5);
    await sleep(wait, signal);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The key a provider's shared cap is counted under: one per endpoint, model and account (a
 * tenant's own API key has its own limits at the provider), the same on every node. The API key
 * enters only as a short hash, so it never appears in Redis.
 */
export function sharedCapKey(p: { kind: string; baseUrl: string; model: string; apiKey?: string | null }): string {
  const account = p.apiKey ? createHash('sha256').update(p.apiKey).digest('hex').slice(0, 16) : 'nokey';
  return `${p.kind}:${p.baseUrl}#${p.model}:${account}`;
}

/**
 * The `shared` member of a lane's options for one provider, to spread into them: nothing without
 * shared caps (embedded), else the cluster-wide cap keyed by sharedCapKey, as large as the lane's
 * own pinned or greatest adaptive concurrency and with its per-minute budget.
 */
export function sharedCapOption(
  caps: SharedProviderCapFactory | undefined,
  kind: string,
  cfg: { baseUrl: string | null; model: string; apiKey?: string | null; concurrency: number; adaptive?: { max: number } | null; requestsPerMinute?: number },
): { shared?: SharedProviderCap } {
  if (!caps || !cfg.baseUrl) return {};
  const key = sharedCapKey({ kind, baseUrl: cfg.baseUrl, model: cfg.model, apiKey: cfg.apiKey ?? null });
  return { shared: caps({ key, concurrency: cfg.adaptive?.max ?? cfg.concurrency, requestsPerMinute: cfg.requestsPerMinute ?? 0 }) };
}

/**
 * Caps whose factory is known only later (the server's embedder is built before the cluster's
 * adapters connect Redis): each cap asks `factory()` on its first use.
 */
export function lateSharedCaps(factory: () => SharedProviderCapFactory): SharedProviderCapFactory {
  return (cap) => {
    let bound: SharedProviderCap | undefined;
    return { tryTake: () => (bound ??= factory()(cap)).tryTake() };
  };
}
