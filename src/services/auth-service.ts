import { timingSafeEqual } from 'node:crypto';
import type { Config } from '../config/config.js';
import type { TenantStore } from '../ports/tenants.js';
import { hashKey, looksLikeApiKey } from './api-keys.js';
import { JwtVerifier } from './jwt-verifier.js';

/** Who a request acts as. `admin` manages tenants and keys; `tenant` acts inside one tenant. */
export type Principal =
  | { kind: 'admin'; keyPrefix: string | null }
  | { kind: 'tenant'; tenantId: string; keyPrefix: string | null; via: 'key' | 'jwt' | 'open' };

/** What the HTTP layer needs: the tenant plugin only calls this. */
export interface Authenticator {
  readonly open: boolean;
  /** A Principal at once when no I/O is needed (open mode), else a promise of one. */
  authenticate(authorization: string | undefined): Principal | Promise<Principal>;
}

/** Why a credential was refused; the HTTP layer turns it into a 401. */
export class AuthError extends Error {}

export const DEFAULT_TENANT = 'default';

/** Who every request is in open mode: one shared, frozen value rather than one per request. */
const OPEN_PRINCIPAL: Principal = Object.freeze({ kind: 'tenant', tenantId: DEFAULT_TENANT, keyPrefix: null, via: 'open' });

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|\[::1\]|localhost)$/;
export const isLoopback = (host: string) => LOOPBACK.test(host);

/**
 * Turns an `Authorization` header into a Principal. Credentials, in the order they are tried:
 * the RAGD_ADMIN_KEY, a stored API key (admin or tenant, by hash), a JWT. In open mode (loopback,
 * nothing configured) every request is the `default` tenant.
 */
export class AuthService implements Authenticator {
  private readonly envAdminHash: Buffer | null;
  private readonly jwt: JwtVerifier | null;
  private isOpen: boolean;
  private watch: NodeJS.Timeout | null = null;

  constructor(
    private readonly tenants: TenantStore,
    config: Pick<Config, 'adminKey' | 'jwt'>,
    /** Decided at startup (see authPosture): no credential exists and the host is loopback. */
    open: boolean,
  ) {
    this.isOpen = open;
    this.envAdminHash = config.adminKey ? Buffer.from(hashKey(config.adminKey), 'hex') : null;
    this.jwt = JwtVerifier.configured(config.jwt) ? new JwtVerifier(config.jwt) : null;
  }

  /** Open mode: every request is the `default` tenant. Once over, it stays over. */
  get open(): boolean {
    return this.isOpen;
  }

  /**
   * Ends open mode as soon as a stored key exists. `ragd admin init` writes the first admin key
   * from another process, and whoever runs it expects credentials to be required from then on,
   * not after a restart they may not think of. Polled (one indexed lookup every `everyMs`) rather
   * than checked per request, so open-mode requests stay free of I/O.
   */
  closeWhenKeysAppear(everyMs: number, onClosed: () => void): void {
    if (!this.isOpen || this.watch) return;
    let checking = false;
    this.watch = setInterval(() => {
      if (checking) return;
      checking = true;
      this.tenants
        .hasAnyKey()
        .then((any) => {
          if (!any || !this.isOpen) return;
          this.isOpen = false;
          this.stopWatching();
          onClosed();
        })
        // The store closing under a last check, or a transient read error: the next tick tries again.
        .catch(() => undefined)
        .finally(() => (checking = false));
    }, everyMs);
    this.watch.unref();
  }

  stopWatching(): void {
    if (this.watch) clearInterval(this.watch);
    this.watch = null;
  }

  authenticate(authorization: string | undefined): Principal | Promise<Principal> {
    return this.isOpen ? OPEN_PRINCIPAL : this.verify(authorization);
  }

  private async verify(authorization: string | undefined): Promise<Principal> {
    const token = bearer(authorization);
    const hash = hashKey(token);
    if (this.envAdminHash && timingSafeEqual(Buffer.from(hash, 'hex'), this.envAdminHash)) {
      return { kind: 'admin', keyPrefix: 'env-admin' };
    }
    if (looksLikeApiKey(token)) {
      const key = await this.tenants.findKeyByHash(hash);
      if (!key) throw new AuthError('invalid or revoked API key');
      void this.tenants.touchKey(key.id).catch(() => undefined);
      if (key.role === 'admin') return { kind: 'admin', keyPrefix: key.prefix };
      return { kind: 'tenant', tenantId: key.tenantId!, keyPrefix: key.prefix, via: 'key' };
    }
    if (this.jwt && token.split('.').length === 3) {
      let tenantId: string;
      try {
        tenantId = await this.jwt.tenantOf(token);
      } catch (err) {
        throw new AuthError(`invalid token: ${(err as Error).message}`);
      }
      // A token for a tenant that does not exist (or was deleted) opens nothing.
      if (!(await this.tenants.getTenant(tenantId))) throw new AuthError('invalid token: unknown tenant');
      return { kind: 'tenant', tenantId, keyPrefix: null, via: 'jwt' };
    }
    throw new AuthError('invalid credentials');
  }
}

/** Open mode on its own, for an HTTP app built without a tenant store (unit tests, tools). */
export const OPEN_AUTH: Authenticator = {
  open: true,
  authenticate: () => OPEN_PRINCIPAL,
};

function bearer(header: string | undefined): string {
  if (!header) throw new AuthError('missing credentials: send Authorization: Bearer <key>');
  const m = /^Bearer +(\S{1,8192})\s*$/i.exec(header);
  if (!m) throw new AuthError('malformed Authorization header: expected "Bearer <key>"');
  return m[1]!;
}

/**
 * Whether the server may run without credentials. Open only on loopback with no admin key, no
 * JWT and no stored key; anywhere else without auth it refuses to start.
 */
export async function authPosture(
  config: Pick<Config, 'host' | 'adminKey' | 'jwt'>,
  tenants: TenantStore,
): Promise<{ open: boolean }> {
  const configured = config.adminKey !== null || JwtVerifier.configured(config.jwt) || (await tenants.hasAnyKey());
  if (configured) return { open: false };
  if (isLoopback(config.host)) return { open: true };
  throw new Error(
    `refusing to listen on ${config.host} without authentication: set RAGD_ADMIN_KEY (or run \`ragd admin init\`), ` +
      'or RAGD_JWT_SECRET / RAGD_JWT_JWKS_URL; only a loopback host may run open',
  );
}
