import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { TenantStore } from '../ports/tenants.js';
import type { TenantLimitsSource } from '../ports/tenant-limits.js';
import { AuthService, authPosture } from '../services/auth-service.js';
import type { KbService } from '../services/kb-service.js';
import { SecretBox } from '../services/secret-box.js';
import { SettingsLimitsSource } from '../services/tenant-limits-source.js';
import { TenantService } from '../services/tenant-service.js';

/** Tenants, keys and settings: their store, the service the admin API uses, and the limits port. */
export interface Tenancy {
  store: TenantStore;
  service: TenantService;
  limits: TenantLimitsSource;
}

export function createTenancy(
  config: Config,
  deps: { tenants: TenantStore; kbs: KbService; secretDir: string },
): Tenancy {
  const store = deps.tenants;
  const service = new TenantService(store, deps.kbs, SecretBox.load(config.secretKey, deps.secretDir), config.providerAllowPrivate);
  // A tenant's own limits over the server-wide RAGD_TENANT_* defaults.
  return { store, service, limits: new SettingsLimitsSource(service, { ...config.tenantLimits, pipelineWeight: 1 }) };
}

/**
 * Decides at startup whether requests need credentials, and says so; open mode ends by itself
 * when a key appears. Throws (the server must not start) when bound beyond loopback with no
 * authentication configured.
 */
export async function createAuth(config: Config, tenancy: Tenancy, logger: Logger): Promise<AuthService> {
  const { open } = await authPosture(config, tenancy.store);
  if (open) {
    logger.warn(
      { host: config.host },
      'authentication is OFF: no admin key, JWT or API key is configured, so every request acts as the "default" tenant. ' +
        'Fine on loopback; set RAGD_ADMIN_KEY or run `ragd admin init` to require credentials.',
    );
  } else {
    logger.info({ jwt: Boolean(config.jwt.secret || config.jwt.jwksUrl) }, 'authentication is on: every request needs credentials');
  }
  const auth = new AuthService(tenancy.store, config, open);
  auth.closeWhenKeysAppear(OPEN_MODE_CHECK_MS, () =>
    logger.warn('an API key now exists (`ragd admin init`?): authentication is ON, every request needs credentials from now on'),
  );
  return auth;
}

/** How soon a key made by another process (`ragd admin init`) ends open mode. */
const OPEN_MODE_CHECK_MS = 1000;
