import { createHash } from 'node:crypto';
import type { ProviderConfig } from '../config/config.js';
import { remoteEmbedderId } from '../domain/embedder-space.js';
import type { Embedder, EmbedderResolver } from '../ports/models.js';
import type { SharedProviderCapFactory } from '../ports/limits.js';
import { ProviderLane } from '../providers/lane.js';
import { sharedCapOption } from '../providers/shared-slot.js';
import { OpenAIEmbedder } from '../providers/openai-embedder.js';
import { egressOf } from '../providers/egress.js';
import type { OpenEmbedProvider } from '../services/tenant-service.js';

/**
 * The embedders tenants use: the server's (RAGD_EMBED_* or the local hash embedder) and, for
 * tenants with their own embedding settings, one OpenAI-compatible embedder behind its own lane
 * per distinct configuration, shared by every tenant that names the same one.
 */

/** An OpenAI-compatible embedder behind a lane of its own, with the limits of `cfg`. */
export function remoteEmbedder(cfg: ProviderConfig & { baseUrl: string }, dim: number, caps?: SharedProviderCapFactory): OpenAIEmbedder {
  const lane = new ProviderLane({
    ...sharedCapOption(caps, 'embed', cfg),
    name: 'embed',
    concurrency: cfg.concurrency,
    adaptive: cfg.adaptive,
    requestsPerMinute: cfg.requestsPerMinute,
    timeoutMs: cfg.timeoutMs,
    maxRetries: cfg.maxRetries,
    backoffBaseMs: 500,
    breaker: { errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeoutMs: 30_000 },
  });
  return new OpenAIEmbedder({ lane, baseURL: cfg.baseUrl, apiKey: cfg.apiKey, model: cfg.model, dim, ...egressOf(cfg) });
}

type TenantEmbedSource = (tenantId: string) => Promise<OpenEmbedProvider | null>;

export class EmbedderRegistry implements EmbedderResolver {
  private readonly own = new Map<string, OpenAIEmbedder>();

  constructor(
    readonly server: Embedder,
    /** The server's RAGD_EMBED_* lane limits (concurrency, rate, timeout, retries), which tenant lanes reuse. */
    private readonly limits: ProviderConfig,
    private readonly source: TenantEmbedSource | null,
    /** RAGD_PROVIDER_ALLOW_PRIVATE, for the tenants' embedders' egress policy. */
    private readonly allowPrivate = false,
    /** Cluster: each provider's caps shared by every process. */
    private readonly caps?: SharedProviderCapFactory,
  ) {}

  async forTenant(tenantId: string): Promise<Embedder> {
    const p = this.source ? await this.source(tenantId) : null;
    return p ? this.cached(p) : this.server;
  }

  /**
   * The server's embedder serves any tenant's KB built with it (a KB made before the tenant had
   * settings keeps working); any other space only through the tenant's current own provider, so
   * one tenant's key never embeds for another.
   */
  async forKb(tenantId: string, kb: { embedder: string; embedDim: number }): Promise<Embedder | null> {
    if (inSpace(this.server, kb, { legacy: true })) return this.server;
    const own = await this.forTenant(tenantId);
    return own !== this.server && inSpace(own, kb, { legacy: false }) ? own : null;
  }

  /** The lanes of the tenants' own embedders (the server's is the runtime's). */
  lanes(): ProviderLane[] {
    return [...this.own.values()].map((e) => e.lane);
  }

  async close(): Promise<void> {
    await Promise.all(this.lanes().map((l) => l.close()));
  }

  private cached(p: OpenEmbedProvider): OpenAIEmbedder {
    const apiKey = p.apiKey ?? 'none';
    // The key's hash, not the key, names the embedder: the map must not become a second key store.
    const id = `${remoteEmbedderId(p)}\n${createHash('sha256').update(apiKey).digest('hex')}`;
    let built = this.own.get(id);
    if (!built) this.own.set(id, (built = remoteEmbedder({ ...this.limits, baseUrl: p.baseUrl, model: p.model, apiKey, tenantEgress: { allowPrivate: this.allowPrivate } }, p.dim, this.caps)));
    return built;
  }
}

/** `legacy`: the server's remote embedder also answers to the id earlier versions recorded. */
function inSpace(e: Embedder, kb: { embedder: string; embedDim: number }, opts: { legacy: boolean }): boolean {
  if (e.dim !== kb.embedDim) return false;
  return kb.embedder === e.id || (opts.legacy && e instanceof OpenAIEmbedder && kb.embedder === e.legacyId);
}
