import { errorResponses } from '../schemas.js';
import type { ApiKeyRecord } from '../../ports/tenants.js';
import type { TenantService } from '../../services/tenant-service.js';
import type { RoutePlugin } from '../app.js';
import {
  AdminKeyParams,
  CreateKeyBody,
  CreatedKeyResponse,
  KeyListResponse,
  KeyParams,
  NoContent,
  TenantParams,
  type KeyViewBody,
} from './admin-schemas.js';

const toKeyView = (k: ApiKeyRecord): KeyViewBody => ({
  id: k.id,
  tenant: k.tenantId,
  name: k.name,
  prefix: k.prefix,
  created_at: k.createdAt,
  revoked_at: k.revokedAt,
  last_used_at: k.lastUsedAt,
});

/**
 * `/v1/admin/tenants/{t}/keys`: mint (the key is in that one response), list, revoke; and the
 * same for admin keys under `/v1/admin/keys`, so a leaked admin key can be replaced and revoked.
 */
export const adminKeyRoutes =
  (tenants: TenantService): RoutePlugin =>
  async (app) => {
    app.post<{ Params: TenantParams; Body: CreateKeyBody | undefined }>(
      '/v1/admin/tenants/:t/keys',
      { schema: { tags: ['admin'], summary: "Create an API key for a tenant (shown only in this response)", params: TenantParams, body: CreateKeyBody, response: { 201: CreatedKeyResponse, ...errorResponses } } },
      async (request, reply) => {
        const { record, key } = await tenants.createKey(request.params.t, request.body?.name ?? 'default');
        request.log.info({ key: record.prefix, tenant: request.params.t }, 'API key created');
        return reply.code(201).send({ ...toKeyView(record), key });
      },
    );

    app.get<{ Params: TenantParams }>(
      '/v1/admin/tenants/:t/keys',
      { schema: { tags: ['admin'], summary: "List a tenant's API keys (prefixes only)", params: TenantParams, response: { 200: KeyListResponse, ...errorResponses } } },
      async (request) => ({ keys: (await tenants.listKeys(request.params.t)).map(toKeyView) }),
    );

    app.delete<{ Params: KeyParams }>(
      '/v1/admin/tenants/:t/keys/:id',
      { schema: { tags: ['admin'], summary: "Revoke a tenant's API key", params: KeyParams, response: { 204: NoContent, ...errorResponses } } },
      async (request, reply) => {
        await tenants.revokeKey(request.params.t, request.params.id);
        request.log.info({ keyId: request.params.id, tenant: request.params.t }, 'API key revoked');
        return reply.code(204).send();
      },
    );

    app.post<{ Body: CreateKeyBody | undefined }>(
      '/v1/admin/keys',
      { schema: { tags: ['admin'], summary: "Create another admin key (shown only in this response)", body: CreateKeyBody, response: { 201: CreatedKeyResponse, ...errorResponses } } },
      async (request, reply) => {
        const { record, key } = await tenants.createAdminKey(request.body?.name ?? 'admin');
        request.log.info({ key: record.prefix }, 'admin key created');
        return reply.code(201).send({ ...toKeyView(record), key });
      },
    );

    app.get('/v1/admin/keys', { schema: { tags: ['admin'], summary: "List admin keys (prefixes only)", response: { 200: KeyListResponse, ...errorResponses } } }, async () => ({
      keys: (await tenants.listAdminKeys()).map(toKeyView),
    }));

    app.delete<{ Params: AdminKeyParams }>(
      '/v1/admin/keys/:id',
      { schema: { tags: ['admin'], summary: "Revoke an admin key", params: AdminKeyParams, response: { 204: NoContent, ...errorResponses } } },
      async (request, reply) => {
        await tenants.revokeAdminKey(request.params.id);
        request.log.info({ keyId: request.params.id }, 'admin key revoked');
        return reply.code(204).send();
      },
    );
  };
