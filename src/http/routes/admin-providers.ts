import { Type } from '@sinclair/typebox';
import { PROVIDER_KINDS, type ProviderCheck, type ProviderKind } from '../../services/provider-check.js';
import type { TenantService } from '../../services/tenant-service.js';
import type { RoutePlugin } from '../app.js';
import { errorResponses, NoBody } from '../schemas.js';
import { TenantParams } from './admin-schemas.js';

const Params = Type.Composite([TenantParams, Type.Object({ kind: Type.Unsafe<ProviderKind>({ type: 'string', enum: [...PROVIDER_KINDS] }) })], {
  additionalProperties: false,
});

const Result = Type.Object({
  kind: Type.String(),
  configured: Type.Boolean(),
  ok: Type.Boolean(),
  ms: Type.Integer(),
  message: Type.Union([Type.String(), Type.Null()]),
});

/** `POST /v1/admin/tenants/{t}/providers/{kind}/test`: the admin console's "test connection". */
export const adminProviderRoutes =
  (tenants: TenantService, check: ProviderCheck): RoutePlugin =>
  async (app) => {
    app.post<{ Params: { t: string; kind: ProviderKind } }>(
      '/v1/admin/tenants/:t/providers/:kind/test',
      {
        schema: {
          tags: ['admin'],
          summary: "Test a tenant's llm, embed or rerank provider with one small real call",
          params: Params,
          body: NoBody,
          response: { 200: Result, ...errorResponses },
        },
      },
      async (request) => {
        await tenants.get(request.params.t);
        return check.check(request.params.t, request.params.kind, AbortSignal.timeout(30_000));
      },
    );
  };
