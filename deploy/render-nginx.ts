/**
 * Renders deploy/nginx.conf.template for a set of `ragd serve` nodes.
 *
 *   npx tsx deploy/render-nginx.ts --upstream api-1:8080 --upstream api-2:8080 --listen 8080 \
 *     [--max-upload-bytes N] [--read-timeout-sec 300] [--runtime-dir /tmp] \
 *     [--error-log stderr] [--access-log /dev/stdout] [--out deploy/nginx.conf]
 *
 * --max-upload-bytes defaults to ragd's own RAGD_MAX_UPLOAD_BYTES (from the environment, or its
 * default), read through src/config/config.ts so the two limits cannot drift apart.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config/config.js';

export const TEMPLATE_PATH = fileURLToPath(new URL('./nginx.conf.template', import.meta.url));

/** Multipart framing around one uploaded file (boundaries, part headers) fits easily in this. */
export const MULTIPART_MARGIN_BYTES = 1024 * 1024;

export interface NginxOptions {
  /** `host:port` of each `ragd serve` node. */
  upstreams: readonly string[];
  /** What nginx listens on: a port, or `address:port`. */
  listen: string;
  /** ragd's RAGD_MAX_UPLOAD_BYTES. */
  maxUploadBytes: number;
  /** Longest silence on an upstream response (must exceed ragd's SSE/WebSocket ping interval). */
  readTimeoutSec: number;
  /** Idle upstream connections are closed after this; below ragd's RAGD_KEEP_ALIVE_TIMEOUT_MS. */
  upstreamKeepaliveSec: number;
  /** Holds the pid file and temp directories; must exist and be writable by nginx. */
  runtimeDir: string;
  /** `stderr` or a file path. */
  errorLog: string;
  /** A file path (`/dev/stdout` in a container) or `off`. */
  accessLog: string;
}

export function defaultNginxOptions(env: Record<string, string | undefined> = process.env): Omit<NginxOptions, 'upstreams' | 'listen'> {
  const config = loadConfig(env);
  return {
    maxUploadBytes: config.maxUploadBytes,
    readTimeoutSec: 300,
    // 12 s under ragd's keep-alive timeout: nginx closes first.
    upstreamKeepaliveSec: Math.max(1, Math.floor(config.httpLimits.keepAliveTimeoutMs / 1000) - 12),
    runtimeDir: '/tmp',
    errorLog: 'stderr',
    accessLog: '/dev/stdout',
  };
}

const HOST_PORT = /^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$/;
/** Characters that would end a directive or start a new one. */
const UNSAFE = /[;{}\s#'"$]/;

export function renderNginxConfig(opts: NginxOptions, template = readFileSync(TEMPLATE_PATH, 'utf8')): string {
  if (opts.upstreams.length === 0) throw new Error('at least one upstream (--upstream host:port) is needed');
  for (const u of opts.upstreams) if (!HOST_PORT.test(u)) throw new Error(`upstream "${u}" is not host:port`);
  for (const [name, value] of [['listen', opts.listen], ['runtime dir', opts.runtimeDir], ['error log', opts.errorLog], ['access log', opts.accessLog]] as const) {
    if (value === '' || UNSAFE.test(value)) throw new Error(`${name} "${value}" is empty or has characters nginx would misread`);
  }
  if (!Number.isInteger(opts.maxUploadBytes) || opts.maxUploadBytes < 1) throw new Error('maxUploadBytes must be a positive integer');
  if (!Number.isInteger(opts.readTimeoutSec) || opts.readTimeoutSec < 1) throw new Error('readTimeoutSec must be a positive integer');

  const values: Record<string, string> = {
    UPSTREAM_SERVERS: opts.upstreams.map((u) => `        server ${u} max_fails=2 fail_timeout=10s;`).join('\n'),
    LISTEN: opts.listen,
    CLIENT_MAX_BODY_SIZE: String(opts.maxUploadBytes + MULTIPART_MARGIN_BYTES),
    READ_TIMEOUT: `${opts.readTimeoutSec}s`,
    UPSTREAM_KEEPALIVE_TIMEOUT: `${opts.upstreamKeepaliveSec}s`,
    RUNTIME_DIR: opts.runtimeDir.replace(/\/+$/, '') || '/',
    ERROR_LOG: opts.errorLog,
    ACCESS_LOG: opts.accessLog,
  };
  const out = template.replace(/\{\{([A-Z_]+)\}\}/g, (_m, key: string) => {
    const v = values[key];
    if (v === undefined) throw new Error(`the template names an unknown placeholder {{${key}}}`);
    return v;
  });
  return out;
}

/** The arguments deploy/nginx.conf (the compose rendering) was made with; a test keeps them in step. */
export const COMPOSE_ARGS = ['--upstream', 'api-1:8080', '--upstream', 'api-2:8080', '--listen', '8080', '--out', 'deploy/nginx.conf'];

export function renderFromArgs(argv: readonly string[], env: Record<string, string | undefined> = process.env): { text: string; out: string | null } {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      upstream: { type: 'string', multiple: true },
      listen: { type: 'string' },
      'max-upload-bytes': { type: 'string' },
      'read-timeout-sec': { type: 'string' },
      'runtime-dir': { type: 'string' },
      'error-log': { type: 'string' },
      'access-log': { type: 'string' },
      out: { type: 'string' },
    },
    strict: true,
  });
  const d = defaultNginxOptions(env);
  const text = renderNginxConfig({
    ...d,
    upstreams: values.upstream ?? [],
    listen: values.listen ?? '8080',
    maxUploadBytes: values['max-upload-bytes'] ? Number(values['max-upload-bytes']) : d.maxUploadBytes,
    readTimeoutSec: values['read-timeout-sec'] ? Number(values['read-timeout-sec']) : d.readTimeoutSec,
    runtimeDir: values['runtime-dir'] ?? d.runtimeDir,
    errorLog: values['error-log'] ?? d.errorLog,
    accessLog: values['access-log'] ?? d.accessLog,
  });
  return { text, out: values.out ?? null };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const { text, out } = renderFromArgs(process.argv.slice(2));
    if (out) writeFileSync(out, text);
    else process.stdout.write(text);
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exit(2);
  }
}
