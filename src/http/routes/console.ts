import { existsSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RoutePlugin } from '../app.js';

/**
 * The web console (console/, its own package) served from its built dist/ — the one plugin that
 * knows it exists. Hashed assets are cached for a year; index.html never (so a new build is seen
 * at once). Every console page gets a strict Content-Security-Policy: only this origin's scripts,
 * styles and connections, nothing inline, nothing framed. Any other GET path that is not API is
 * the SPA's (its router reads the path): answered with index.html, while /v1/…, /healthz, /readyz,
 * /metrics, /docs, /openapi.json and /mcp keep their own 404s.
 */

/** Where `npm run build` in console/ puts the bundle, from src/http/routes or dist/http/routes alike. */
export const CONSOLE_DIST = fileURLToPath(new URL('../../../console/dist/', import.meta.url));

export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Paths (and their subpaths) the SPA fallback never answers: they are the server's. */
const SERVER_PATHS = ['/v1', '/healthz', '/readyz', '/metrics', '/docs', '/openapi.json', '/mcp'];
const isServerPath = (path: string) => SERVER_PATHS.some((p) => path === p || path.startsWith(`${p}/`));

const YEAR_MS = 365 * 24 * 3600 * 1000;

function listFiles(dir: string, root = dir, out = new Set<string>()): Set<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) listFiles(path, root, out);
    else out.add(relative(root, path).split(sep).join('/'));
  }
  return out;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served to anyone: the console's files carry no data (the API they call still needs credentials). */
    public?: boolean;
  }
}

export function consoleRoutes(dist: string = CONSOLE_DIST): RoutePlugin {
  return async (app) => {
    if (!existsSync(join(dist, 'index.html'))) {
      app.log.warn({ dist }, 'web console not built (run `npm install` at the repository root); / serves no console');
      return;
    }
    // The files present at start: a request can only name one of these (no path is ever joined).
    const files = listFiles(dist);
    await app.register(fastifyStatic, { root: dist, serve: false, decorateReply: true });

    const page = (reply: FastifyReply) =>
      reply.header('content-security-policy', CONSOLE_CSP).header('cache-control', 'no-cache').header('referrer-policy', 'no-referrer').header('x-content-type-options', 'nosniff');

    const serve = async (request: FastifyRequest<{ Params: { '*'?: string } }>, reply: FastifyReply) => {
      const path = (request.params['*'] ?? '').replace(/^\/+/, '');
      if (isServerPath(`/${path}`)) return reply.callNotFound();
      if (files.has(path) && path !== 'index.html') {
        const hashed = path.startsWith('assets/');
        reply.header('x-content-type-options', 'nosniff');
        return reply.sendFile(path, { maxAge: hashed ? YEAR_MS : 0, immutable: hashed, cacheControl: true });
      }
      // Missing assets are 404s, not the page: a stale hashed name must not come back as HTML.
      if (path.startsWith('assets/')) return reply.callNotFound();
      return page(reply).sendFile('index.html', { cacheControl: false });
    };

    const config = { public: true };
    const schema = { hide: true };
    app.get('/', { config, schema, logLevel: 'warn' }, serve);
    app.get('/*', { config, schema, logLevel: 'warn' }, serve);
  };
}
