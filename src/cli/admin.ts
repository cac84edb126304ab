import pino from 'pino';
import type { Config } from '../config/config.js';
import { authHeader } from './credentials.js';
import { serverUrl } from './ingest.js';

/**
 * `ragd admin …`: tenants, API keys and tenant settings. `init` works on the data directory
 * itself (it makes the first admin credential, so there is nothing to authenticate with yet);
 * everything else goes through the admin API of a running server with RAGD_ADMIN_KEY.
 */

type Env = Record<string, string | undefined>;

export const ADMIN_USAGE = `Usage:
  ragd admin init [--data-dir ./data]              create an admin key (printed once; only its hash is kept)
  ragd admin tenants                               list tenants
  ragd admin tenants create <id> [--name "Acme"]
  ragd admin tenants delete <id>                   deletes every KB and document of the tenant
  ragd admin keys <tenant>                         list a tenant's API keys (prefixes only)
  ragd admin keys create <tenant> [--name ci]      prints the new key once
  ragd admin keys revoke <tenant> <key-id>
  ragd admin settings <tenant> [--set '<json>']    show, or change (PATCH), provider settings and limits
Over HTTP (--url, default from --host/--port) with RAGD_ADMIN_KEY or --admin-key.`;

class UsageError extends Error {}

export async function admin(config: Config, args: string[], env: Env, switches: Set<string>): Promise<number> {
  const [group, action, ...rest] = args;
  try {
    if (group === 'init') return await init(config);
    const call = http(serverUrl(config, env), switches.has('json'));
    const name = env.RAGD_NAME;
    switch (group) {
      case 'tenants':
        if (action === undefined) return call('GET', '/v1/admin/tenants');
        if (action === 'create') return call('POST', '/v1/admin/tenants', { id: need(rest[0], 'tenant id'), ...(name ? { name } : {}) });
        if (action === 'delete') return call('DELETE', `/v1/admin/tenants/${enc(need(rest[0], 'tenant id'))}`);
        break;
      case 'keys': {
        if (action === 'create') return call('POST', `/v1/admin/tenants/${enc(need(rest[0], 'tenant id'))}/keys`, name ? { name } : {});
        if (action === 'revoke') {
          return call('DELETE', `/v1/admin/tenants/${enc(need(rest[0], 'tenant id'))}/keys/${enc(need(rest[1], 'key id'))}`);
        }
        if (action !== undefined && rest.length === 0) return call('GET', `/v1/admin/tenants/${enc(action)}/keys`);
        break;
      }
      case 'settings': {
        const path = `/v1/admin/tenants/${enc(need(action, 'tenant id'))}/settings`;
        if (env.RAGD_SET === undefined) return call('GET', path);
        return call('PATCH', path, parseJson(env.RAGD_SET));
      }
    }
    throw new UsageError(`unknown admin command "${[group, action].filter(Boolean).join(' ')}"`);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`${err.message}\n\n${ADMIN_USAGE}`);
    return 2;
  }
}

const enc = encodeURIComponent;

function need(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`missing ${what}`);
  return value;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError('--set must be JSON, e.g. \'{"limits":{"requests_per_minute":600}}\'');
  }
}

/** The first admin key, made in this process on the data directory. */
async function init(config: Config): Promise<number> {
  const { createRuntime, NO_ROLES } = await import('../app/runtime.js');
  const runtime = await createRuntime(config, pino({ level: 'warn' }, pino.destination(2)), { roles: NO_ROLES });
  try {
    const { record, key } = await runtime.tenancy.service.createAdminKey('init');
    console.log(key);
    console.error(
      `admin key ${record.prefix}… created. It is shown only now: keep it (e.g. RAGD_ADMIN_KEY). ` +
        'A server running open on this data directory requires credentials within a second.',
    );
    return 0;
  } finally {
    await runtime.close();
  }
}

function http(base: string, json: boolean) {
  return async (method: string, path: string, body?: unknown): Promise<number> => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: { ...authHeader('admin'), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      throw new Error(`cannot reach ragd at ${base} (${(err as Error).message}): start it with \`ragd serve\` or pass --url`);
    }
    const text = await res.text();
    const parsed: unknown = text ? JSON.parse(text) : null;
    if (!res.ok) {
      const e = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
      console.error(`HTTP ${res.status}${e ? ` ${e.code}: ${e.message}` : ''}`);
      return 1;
    }
    if (parsed === null) console.log('done');
    else console.log(json ? JSON.stringify(parsed) : JSON.stringify(parsed, null, 2));
    return 0;
  };
}
