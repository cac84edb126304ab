import { errorResponses } from '../schemas.js';
import type { TenantLimits } from '../../ports/tenant-limits.js';
import type { TenantRecord } from '../../ports/tenants.js';
import type { SettingsPatch, SettingsView, TenantService } from '../../services/tenant-service.js';
import type { RoutePlugin } from '../app.js';
import {
  CreateTenantBody,
  NoContent,
  SettingsPatchBody,
  SettingsViewSchema,
  TenantListResponse,
  TenantParams,
  TenantViewSchema,
  type LimitsBody,
  type SettingsViewBody,
  type TenantViewBody,
} from './admin-schemas.js';

/** Wire names of the limits (snake_case) to TenantLimits' fields. */
const LIMIT_FIELDS = {
  requests_per_minute: 'requestsPerMinute',
  max_concurrent_queries: 'maxConcurrentQueries',
  max_stored_bytes: 'maxStoredBytes',
  max_documents: 'maxDocuments',
  max_event_streams: 'maxEventStreams',
  pipeline_weight: 'pipelineWeight',
} as const satisfies Record<keyof LimitsBody, keyof TenantLimits>;

const toTenantView = (t: TenantRecord): TenantViewBody => ({ id: t.id, name: t.name, created_at: t.createdAt });

type ProviderBody = NonNullable<SettingsPatchBody['llm']>;
const toProviderInput = (p: ProviderBody) => ({ baseUrl: p.base_url, model: p.model, ...(p.api_key !== undefined ? { apiKey: p.api_key } : {}) });

export function toSettingsPatch(body: SettingsPatchBody): SettingsPatch {
  const patch: SettingsPatch = {};
  for (const kind of ['llm', 'rerank'] as const) {
    const p = body[kind];
    if (p !== undefined) patch[kind] = p === null ? null : toProviderInput(p);
  }
  if (body.embed !== undefined) patch.embed = body.embed === null ? null : { ...toProviderInput(body.embed), dim: body.embed.dim };
  if (body.limits !== undefined) {
    const limits: Record<string, number | null> = {};
    for (const [wire, field] of Object.entries(LIMIT_FIELDS)) {
      const v = body.limits?.[wire as keyof LimitsBody];
      if (v !== undefined) limits[field] = v;
    }
    patch.limits = body.limits === null ? null : (limits as Partial<TenantLimits>);
  }
  return patch;
}

function toSettingsBody(s: SettingsView): SettingsViewBody {
  const provider = (p: SettingsView['llm']) => (p ? { base_url: p.baseUrl, model: p.model, api_key_set: p.apiKeySet } : null);
  const limits: Record<string, number | null> = {};
  for (const [wire, field] of Object.entries(LIMIT_FIELDS)) {
    const v = s.limits[field];
    if (v !== undefined) limits[wire] = v;
  }
  const embed = s.embed ? { ...provider(s.embed)!, dim: s.embed.dim } : null;
  return { llm: provider(s.llm), rerank: provider(s.rerank), embed, limits };
}

/** `/v1/admin/tenants`: create, list, show, delete tenants, and read or change their settings. */
export const adminTenantRoutes =
  (tenants: TenantService): RoutePlugin =>
  async (app) => {
    app.post<{ Body: CreateTenantBody }>(
      '/v1/admin/tenants',
      { schema: { tags: ['admin'], summary: "Create a tenant (it gets its own default KB)", body: CreateTenantBody, response: { 201: TenantViewSchema, ...errorResponses } } },
      async (request, reply) => {
        const { id, name, settings } = request.body;
        const tenant = await tenants.create({ id, ...(name ? { name } : {}), ...(settings ? { settings: toSettingsPatch(settings) } : {}) });
        return reply.code(201).send(toTenantView(tenant));
      },
    );

    app.get('/v1/admin/tenants', { schema: { tags: ['admin'], summary: "List tenants", response: { 200: TenantListResponse, ...errorResponses } } }, async () => ({
      tenants: (await tenants.list()).map(toTenantView),
    }));

    app.get<{ Params: TenantParams }>(
      '/v1/admin/tenants/:t',
      { schema: { tags: ['admin'], summary: "Read one tenant", params: TenantParams, response: { 200: TenantViewSchema, ...errorResponses } } },
      async (request) => toTenantView(await tenants.get(request.params.t)),
    );

    app.delete<{ Params: TenantParams }>(
      '/v1/admin/tenants/:t',
      { schema: { tags: ['admin'], summary: "Delete a tenant: its KBs, documents and tasks; its keys are revoked", params: TenantParams, response: { 204: NoContent, ...errorResponses } } },
      async (request, reply) => {
        await tenants.delete(request.params.t);
        return reply.code(204).send();
      },
    );

    app.get<{ Params: TenantParams }>(
      '/v1/admin/tenants/:t/settings',
      { schema: { tags: ['admin'], summary: "Read a tenant's provider settings and limits (keys never shown)", params: TenantParams, response: { 200: SettingsViewSchema, ...errorResponses } } },
      async (request) => toSettingsBody(await tenants.settingsView(request.params.t)),
    );

    app.patch<{ Params: TenantParams; Body: SettingsPatchBody }>(
      '/v1/admin/tenants/:t/settings',
      { schema: { tags: ['admin'], summary: "Change a tenant's provider settings and limits", params: TenantParams, body: SettingsPatchBody, response: { 200: SettingsViewSchema, ...errorResponses } } },
      async (request) => toSettingsBody(await tenants.updateSettings(request.params.t, toSettingsPatch(request.body))),
    );
  };
