import { call, requestJson, waitFor } from '../support/server.js';

/** HTTP helpers for the auth tests: every request carries `Authorization: Bearer <credential>`. */

export const ADMIN_KEY = 'test-admin-key-0123456789abcdef';

export function withAuth(credential: string | null, init: RequestInit = {}): RequestInit {
  const headers = new Headers(init.headers);
  if (credential !== null) headers.set('authorization', `Bearer ${credential}`);
  return { ...init, headers };
}

export const jsonInit = (method: string, body: unknown): RequestInit => ({
  method,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

export const authed = (url: string, credential: string | null, init: RequestInit = {}) => call(url, withAuth(credential, init));

/** Creates a tenant and one API key for it through the admin API; returns the key. */
export async function tenantWithKey(url: string, tenant: string, adminKey = ADMIN_KEY): Promise<string> {
  await requestJson(`${url}/v1/admin/tenants`, withAuth(adminKey, jsonInit('POST', { id: tenant })));
  const created = await requestJson<{ key: string }>(
    `${url}/v1/admin/tenants/${tenant}/keys`,
    withAuth(adminKey, jsonInit('POST', { name: 'test' })),
  );
  return created.key;
}

/** Uploads a text document as a tenant; returns the document and task ids. */
export async function uploadAs(url: string, key: string, kb: string, name: string, text: string) {
  const body = await requestJson<{ documents: { id: string; task_id: string }[] }>(
    `${url}/v1/kbs/${kb}/documents`,
    withAuth(key, jsonInit('POST', { name, text })),
  );
  return body.documents[0]!;
}

/** Waits until the tenant's KB has `count` documents (at least one when not given), all ready. */
export async function waitKbReady(url: string, key: string, kb: string, count?: number): Promise<void> {
  await waitFor(
    async () => {
      const { documents } = await requestJson<{ documents: { status: string }[] }>(`${url}/v1/kbs/${kb}/documents`, withAuth(key));
      return (count === undefined ? documents.length > 0 : documents.length === count) && documents.every((d) => d.status === 'ready');
    },
    { what: `${kb} to be indexed` },
  );
}
