import { Type, type Static } from '@sinclair/typebox';
import { KB_ID_PATTERN, Nullable, RESOURCE_ID_PATTERN } from '../schemas.js';

/**
 * Request and response schemas of the admin API (`/v1/admin/…`). As elsewhere, request bodies
 * reject unknown fields, and response schemas are allow-lists: a key's hash, a sealed provider
 * key or a plain key outside its one creation response can never be serialised.
 */

export const TenantId = Type.String({ pattern: KB_ID_PATTERN, description: 'tenant id' });
const KeyId = Type.String({ pattern: RESOURCE_ID_PATTERN, description: 'API key id (not the key)' });

export const TenantParams = Type.Object({ t: TenantId }, { additionalProperties: false });
export type TenantParams = Static<typeof TenantParams>;

export const KeyParams = Type.Object({ t: TenantId, id: KeyId }, { additionalProperties: false });
export type KeyParams = Static<typeof KeyParams>;

export const AdminKeyParams = Type.Object({ id: KeyId }, { additionalProperties: false });
export type AdminKeyParams = Static<typeof AdminKeyParams>;

// ---------------------------------------------------------------------------------------------
// Settings

const ProviderBody = Type.Object(
  {
    base_url: Type.String({ pattern: '^https?://', maxLength: 2048, description: 'OpenAI-compatible base URL' }),
    model: Type.String({ minLength: 1, maxLength: 256 }),
    api_key: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 4096, description: 'omit to keep the stored key, null to remove it' }))),
  },
  { additionalProperties: false },
);

/** An embedding provider also names the dimension of its vectors: it fixes the space of the tenant's new KBs. */
const EmbedProviderBody = Type.Composite(
  [ProviderBody, Type.Object({ dim: Type.Integer({ minimum: 8, maximum: 8192, description: 'dimension of the vectors the model returns' }) })],
  { additionalProperties: false },
);

const Limit = Nullable(Type.Integer({ minimum: 1, description: 'null: no limit of this kind' }));

const LimitsBody = Type.Object(
  {
    requests_per_minute: Type.Optional(Limit),
    max_concurrent_queries: Type.Optional(Limit),
    max_stored_bytes: Type.Optional(Limit),
    max_documents: Type.Optional(Limit),
    max_event_streams: Type.Optional(Limit),
    pipeline_weight: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1000, description: 'share of pipeline workers (1 = equal)' })),
  },
  { additionalProperties: false },
);
export type LimitsBody = Static<typeof LimitsBody>;

export const SettingsPatchBody = Type.Object(
  {
    llm: Type.Optional(Nullable(ProviderBody)),
    rerank: Type.Optional(Nullable(ProviderBody)),
    embed: Type.Optional(Nullable(EmbedProviderBody)),
    limits: Type.Optional(Nullable(LimitsBody)),
  },
  { additionalProperties: false, description: 'absent parts stay as they are; null resets a part to the server default' },
);
export type SettingsPatchBody = Static<typeof SettingsPatchBody>;

const ProviderView = Type.Object({ base_url: Type.String(), model: Type.String(), api_key_set: Type.Boolean() });

export const SettingsViewSchema = Type.Object({
  llm: Nullable(ProviderView),
  rerank: Nullable(ProviderView),
  embed: Nullable(Type.Composite([ProviderView, Type.Object({ dim: Type.Integer() })])),
  limits: Type.Object({
    requests_per_minute: Type.Optional(Nullable(Type.Integer())),
    max_concurrent_queries: Type.Optional(Nullable(Type.Integer())),
    max_stored_bytes: Type.Optional(Nullable(Type.Integer())),
    max_documents: Type.Optional(Nullable(Type.Integer())),
    max_event_streams: Type.Optional(Nullable(Type.Integer())),
    pipeline_weight: Type.Optional(Type.Number()),
  }),
});
export type SettingsViewBody = Static<typeof SettingsViewSchema>;

// ---------------------------------------------------------------------------------------------
// Tenants

export const CreateTenantBody = Type.Object(
  {
    id: TenantId,
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    settings: Type.Optional(SettingsPatchBody),
  },
  { additionalProperties: false },
);
export type CreateTenantBody = Static<typeof CreateTenantBody>;

export const TenantViewSchema = Type.Object({ id: Type.String(), name: Type.String(), created_at: Type.String() });
export type TenantViewBody = Static<typeof TenantViewSchema>;

export const TenantListResponse = Type.Object({ tenants: Type.Array(TenantViewSchema) });

// ---------------------------------------------------------------------------------------------
// API keys

export const CreateKeyBody = Type.Object(
  { name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) },
  { additionalProperties: false },
);
export type CreateKeyBody = Static<typeof CreateKeyBody>;

export const KeyViewSchema = Type.Object({
  id: Type.String(),
  tenant: Nullable(Type.String({ description: 'null for an admin key' })),
  name: Type.String(),
  prefix: Type.String({ description: 'the public start of the key, as it appears in logs' }),
  created_at: Type.String(),
  revoked_at: Nullable(Type.String()),
  last_used_at: Nullable(Type.String()),
});
export type KeyViewBody = Static<typeof KeyViewSchema>;

export const CreatedKeyResponse = Type.Composite([
  KeyViewSchema,
  Type.Object({ key: Type.String({ description: 'the API key: shown only in this response' }) }),
]);

export const KeyListResponse = Type.Object({ keys: Type.Array(KeyViewSchema) });

export const NoContent = Type.Null({ description: 'no content' });
