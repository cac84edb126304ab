import { remoteEmbedderId } from '../domain/embedder-space.js';
import { AppError, badRequest, conflict, notFound } from '../domain/errors.js';
import { memoized } from '../domain/weak-memo.js';
import type { TenantLimits } from '../ports/tenant-limits.js';
import type { ApiKeyRecord, StoredProvider, StoredTenantSettings, TenantRecord, TenantStore } from '../ports/tenants.js';
import { mintKey } from './api-keys.js';
import { DEFAULT_TENANT } from './auth-service.js';
import { newId } from './ids.js';
import type { KbService } from './kb-service.js';
import { checkProviderUrl, providerHost, withoutCredentials } from '../providers/egress.js';
import type { SecretBox } from './secret-box.js';

/** A provider as an admin sets it; `apiKey` undefined keeps the stored one, null removes it. */
export interface ProviderInput {
  baseUrl: string;
  model: string;
  apiKey?: string | null;
}

/** An embedding provider and the dimension of its vectors. */
export interface EmbedInput extends ProviderInput {
  dim: number;
}

/** A partial update: an absent part stays as it is, null clears it. */
export interface SettingsPatch {
  llm?: ProviderInput | null;
  rerank?: ProviderInput | null;
  embed?: EmbedInput | null;
  limits?: Partial<TenantLimits> | null;
}

/** A provider as it is shown: never the key, only whether one is set. */
export interface ProviderView {
  baseUrl: string;
  model: string;
  apiKeySet: boolean;
}

export interface SettingsView {
  llm: ProviderView | null;
  rerank: ProviderView | null;
  embed: (ProviderView & { dim: number }) | null;
  limits: Partial<TenantLimits>;
}

/** A provider with its key opened, for the provider registry only. */
export interface OpenProvider {
  baseUrl: string;
  model: string;
  apiKey: string | null;
}

export interface OpenEmbedProvider extends OpenProvider {
  dim: number;
}

/** Settings are read on every request (limits) and query (providers); this long they are reused. */
const SETTINGS_TTL_MS = 2_000;

/**
 * Tenants, their API keys and settings: what the admin API and CLI manage. A key is shown once,
 * when it is created, and stored as a hash; provider keys are sealed with the server key.
 */
export class TenantService {
  private readonly cache = new Map<string, { at: number; settings: StoredTenantSettings }>();
  /**
   * Each stored provider opened once per settings read, not on every query: a cached answer still
   * needs its tenant's providers (they are part of the cache key), and opening a sealed key is AES-GCM.
   */
  private readonly openedProviders = new WeakMap<StoredProvider, OpenProvider>();

  constructor(
    private readonly store: TenantStore,
    private readonly kbs: KbService,
    private readonly box: SecretBox,
    /** RAGD_PROVIDER_ALLOW_PRIVATE: tenants' provider URLs may name private addresses. */
    private readonly allowPrivateProviders = false,
  ) {}

  async create(input: { id: string; name?: string; settings?: SettingsPatch }): Promise<TenantRecord> {
    // The `default` KB is created with the tenant, so it must already be in the tenant's own space.
    const embed = input.settings?.embed;
    const defaultKb = embed ? { embedder: remoteEmbedderId(embed), embedDim: embed.dim } : undefined;
    const tenant = await this.store.createTenant({ id: input.id, name: input.name ?? input.id, ...(defaultKb ? { defaultKb } : {}) });
    if (!tenant) throw conflict(`tenant "${input.id}" already exists`, 'tenant_exists');
    if (input.settings) await this.updateSettings(input.id, input.settings);
    return tenant;
  }

  list(): Promise<TenantRecord[]> {
    return this.store.listTenants();
  }

  async get(id: string): Promise<TenantRecord> {
    const tenant = await this.store.getTenant(id);
    if (!tenant) throw notFound(`tenant "${id}"`);
    return tenant;
  }

  /** Removes every KB (documents, vectors, files) of the tenant, then the tenant; revokes its keys. */
  async delete(id: string): Promise<void> {
    if (id === DEFAULT_TENANT) throw new AppError(409, 'tenant_protected', 'the default tenant cannot be deleted');
    await this.get(id);
    await this.kbs.deleteAllOf(id);
    const outcome = await this.store.deleteTenant(id);
    if (outcome === 'not_found') throw notFound(`tenant "${id}"`);
    if (outcome === 'has_kbs') throw conflict(`tenant "${id}" gained a knowledge base while being deleted; try again`, 'tenant_busy');
    this.cache.delete(id);
  }

  /** Returns the key itself once; only its hash is kept. */
  async createKey(tenantId: string, name: string): Promise<{ record: ApiKeyRecord; key: string }> {
    await this.get(tenantId);
    return this.mint(tenantId, 'tenant', name);
  }

  /** An admin key (`ragd admin init`): manages tenants, opens no tenant's data. */
  createAdminKey(name: string): Promise<{ record: ApiKeyRecord; key: string }> {
    return this.mint(null, 'admin', name);
  }

  listAdminKeys(): Promise<ApiKeyRecord[]> {
    return this.store.listKeys(null);
  }

  /** An admin key, like a tenant key, is revoked at once; RAGD_ADMIN_KEY is not stored, so not here. */
  async revokeAdminKey(keyId: string): Promise<void> {
    if (!(await this.store.revokeKey(null, keyId))) throw notFound(`admin key "${keyId}"`);
  }

  async listKeys(tenantId: string): Promise<ApiKeyRecord[]> {
    await this.get(tenantId);
    return this.store.listKeys(tenantId);
  }

  async revokeKey(tenantId: string, keyId: string): Promise<void> {
    await this.get(tenantId);
    if (!(await this.store.revokeKey(tenantId, keyId))) throw notFound(`key "${keyId}"`);
  }

  async settingsView(tenantId: string): Promise<SettingsView> {
    await this.get(tenantId);
    const s = await this.settingsOf(tenantId);
    const view = (p: StoredProvider | undefined): ProviderView | null =>
      // Credentials a URL saved before they were refused are not shown back.
      p ? { baseUrl: withoutCredentials(p.baseUrl), model: p.model, apiKeySet: p.apiKeyCipher !== null } : null;
    const embed = s.embed ? { ...view(s.embed)!, dim: s.embed.dim } : null;
    return { llm: view(s.llm), rerank: view(s.rerank), embed, limits: s.limits ?? {} };
  }

  async updateSettings(tenantId: string, patch: SettingsPatch): Promise<SettingsView> {
    await this.get(tenantId);
    const current = await this.store.getSettings(tenantId);
    const next: StoredTenantSettings = { ...current };
    for (const kind of ['llm', 'rerank'] as const) {
      const input = patch[kind];
      if (input === undefined) continue;
      if (input === null) delete next[kind];
      else next[kind] = this.seal(input, current[kind]);
    }
    if (patch.embed === null) delete next.embed;
    else if (patch.embed) next.embed = { ...this.seal(patch.embed, current.embed), dim: patch.embed.dim };
    if (patch.limits === null) delete next.limits;
    else if (patch.limits) next.limits = { ...current.limits, ...patch.limits };
    await this.store.putSettings(tenantId, next);
    this.cache.delete(tenantId);
    return this.settingsView(tenantId);
  }

  /** The stored settings, briefly cached: limits and providers are looked up on hot paths. */
  async settingsOf(tenantId: string): Promise<StoredTenantSettings> {
    const hit = this.settingsAtHand(tenantId);
    if (hit) return hit;
    const settings = await this.store.getSettings(tenantId);
    this.cache.set(tenantId, { at: Date.now(), settings });
    return settings;
  }

  /**
   * The settings if a fresh read is cached, else undefined (then call settingsOf). The object is
   * replaced, never changed, when the settings are read again: callers may key memos by it.
   */
  settingsAtHand(tenantId: string): StoredTenantSettings | undefined {
    const hit = this.cache.get(tenantId);
    return hit && Date.now() - hit.at < SETTINGS_TTL_MS ? hit.settings : undefined;
  }

  /** The tenant's provider of that kind with its key opened, or null to use the server's. */
  async providerOf(tenantId: string, kind: 'llm' | 'rerank'): Promise<OpenProvider | null> {
    const p = (await this.settingsOf(tenantId))[kind];
    return p ? this.opened(p, kind) : null;
  }

  /** The tenant's own embedding provider with its key opened, or null to use the server's embedder. */
  async embedProviderOf(tenantId: string): Promise<OpenEmbedProvider | null> {
    const p = (await this.settingsOf(tenantId)).embed;
    return p ? { ...this.opened(p, 'embedding'), dim: p.dim } : null;
  }

  private opened(p: StoredProvider, kind: string): OpenProvider {
    // An unreadable key throws here, every time: a refusal is not remembered.
    return memoized(this.openedProviders, p, () =>
      Object.freeze({ baseUrl: p.baseUrl, model: p.model, apiKey: p.apiKeyCipher ? this.openKey(p.apiKeyCipher, kind) : null }),
    );
  }

  private openKey(sealed: string, kind: string): string {
    try {
      return this.box.open(sealed);
    } catch {
      // Sealed under another server key: the tenant's provider cannot be called until an admin sets the key again.
      throw new AppError(503, 'provider_key_unreadable', `the ${kind} provider key of this tenant cannot be opened with the server key; an admin must set it again`);
    }
  }

  private seal(input: ProviderInput, current: StoredProvider | undefined): StoredProvider {
    checkProviderUrl(input.baseUrl, this.allowPrivateProviders);
    // A stored key was given for one host: it is not sent to another unless given again.
    const moved = current !== undefined && providerHost(current.baseUrl) !== providerHost(input.baseUrl);
    if (moved && input.apiKey === undefined && current.apiKeyCipher !== null) {
      throw badRequest('base_url names a new host: send api_key again (or null for none); the stored key is not sent to another host', 'api_key_required');
    }
    const keep = input.apiKey === undefined ? (current?.apiKeyCipher ?? null) : null;
    return {
      baseUrl: input.baseUrl,
      model: input.model,
      apiKeyCipher: input.apiKey ? this.box.seal(input.apiKey) : keep,
    };
  }

  private async mint(tenantId: string | null, role: 'admin' | 'tenant', name: string) {
    const minted = mintKey();
    const record = await this.store.createKey({ id: newId('key'), tenantId, role, name, prefix: minted.prefix, hash: minted.hash });
    return { record, key: minted.key };
  }
}
