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
 * styles and connections, nothing inline, nothing framed. The console router's own paths
 * (CONSOLE_PATHS) are answered with index.html, so a reload or a shared link lands on its screen.
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

/**
 * The console router's paths (console/src/App.tsx): each, and everything under it, is answered
 * with the page. The fallback is these paths and no catch-all, so it can never shadow an API
 * route (/v1/…, /healthz, /readyz, /metrics, /docs, /openapi.json, /mcp): anything else keeps the
 * server's own 404 (or 401 first, for the unauthenticated).
 */
export const CONSOLE_PATHS = ['kbs', 'ops', 'admin', 'signin'] as const;

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

    const asset = async (request: FastifyRequest<{ Params: { '*': string } }>, reply: FastifyReply) => {
      const path = `assets/${request.params['*']}`;
      // A missing asset is a 404, never the page: a stale hashed name must not come back as HTML.
      if (!files.has(path)) return reply.callNotFound();
      return reply.header('x-content-type-options', 'nosniff').sendFile(path, { maxAge: YEAR_MS, immutable: true, cacheControl: true });
    };
    const page = async (_request: FastifyRequest, reply: FastifyReply) =>
      reply
        .header('content-security-policy', CONSOLE_CSP)
        .header('cache-control', 'no-cache')
        .header('referrer-policy', 'no-referrer')
        .header('x-content-type-options', 'nosniff')
        .sendFile('index.html', { cacheControl: false });

    const options = { config: { public: true }, schema: { hide: true }, logLevel: 'warn' as const };
    app.get('/', options, page);
    for (const p of CONSOLE_PATHS) {
      app.get(`/${p}`, options, page);
      app.get(`/${p}/*`, options, page);
    }
    app.get('/assets/*', options, asset);
  };
}
