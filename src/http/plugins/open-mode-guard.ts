import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../../domain/errors.js';
import type { Authenticator } from '../../services/auth-service.js';

/** Names that only ever reach this machine. */
const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);
/**
 * Probes and Prometheus carry whatever Host the orchestrator sends (a pod IP). They expose nothing
 * of any tenant: /metrics reads aggregate counts only, never names or ids.
 */
const ANY_HOST_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** `Host: name:port` → `name`, lower-cased; `[::1]:8080` → `[::1]`. */
function hostnameOf(host: string | undefined): string {
  if (!host) return '';
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  return colon >= 0 ? h.slice(0, colon) : h;
}

function isLoopback(name: string): boolean {
  return LOOPBACK.has(name) || name.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(name);
}

export interface OpenModeGuardOptions {
  auth: Authenticator;
  /** RAGD_ALLOWED_HOSTS: more Host names served in open mode (`*` = any). */
  allowedHosts: readonly string[];
}

/**
 * Open mode (no credentials anywhere) trusts whoever can connect, which a web page in the
 * user's browser can do too. Two defences, both only while the server is open:
 *   - DNS rebinding: a page at evil.example whose name re-resolves to 127.0.0.1 sends
 *     `Host: evil.example`. Only loopback names (and RAGD_ALLOWED_HOSTS) are served: 403.
 *   - Cross-site requests: a form POST or a WebSocket from another origin carries that page's
 *     `Origin`. A state-changing request or an upgrade whose Origin is not this server's own is
 *     refused: 403. Same-origin pages (the console served by ragd) and clients that send no
 *     Origin (curl, SDKs) pass.
 * With credentials required, neither applies: a page cannot attach a bearer token by itself.
 */
const plugin: FastifyPluginAsync<OpenModeGuardOptions> = async (app, opts) => {
  const allowed = new Set(opts.allowedHosts.map((h) => hostnameOf(h)));
  const anyHost = allowed.has('*');

  const refusal = (request: FastifyRequest): AppError | undefined => {
    if (!opts.auth.open) return undefined;
    const host = request.headers.host;
    const name = hostnameOf(host);
    if (!anyHost && !isLoopback(name) && !allowed.has(name) && !ANY_HOST_ROUTES.has(request.routeOptions.url ?? '')) {
      return new AppError(403, 'forbidden_host', `Host "${name.slice(0, 100)}" is not served in open mode; add it to RAGD_ALLOWED_HOSTS or set up API keys`);
    }
    const origin = request.headers.origin;
    if (origin === undefined || (SAFE_METHODS.has(request.method) && !request.ws)) return undefined;
    let originHost: string | null = null;
    try {
      originHost = origin === 'null' ? null : new URL(origin).host.toLowerCase();
    } catch {
      originHost = null;
    }
    if (originHost !== null && originHost === host?.trim().toLowerCase()) return undefined;
    return new AppError(403, 'forbidden_origin', 'cross-origin requests that change state are refused in open mode; set up API keys to call ragd from another site');
  };

  // A callback hook: it runs on every request.
  app.addHook('onRequest', (request, _reply, done) => done(refusal(request)));
};

export const openModeGuardPlugin = fp(plugin, { name: 'ragd-open-mode-guard', fastify: '5.x' });
