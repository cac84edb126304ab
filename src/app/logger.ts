import pino, { type DestinationStream, type Logger } from 'pino';
import { activeTraceId } from '../observability/tracing.js';

/**
 * The process logger: JSON lines at `RAGD_LOG_LEVEL` (default info); human-readable through
 * pino-pretty when RAGD_LOG_PRETTY=1, or when a person is watching a terminal (unless
 * RAGD_LOG_PRETTY=0 or RAGD_LOG_FORMAT=json).
 *
 * Every line written while an HTTP request is handled carries its `reqId`, also from services
 * that were never handed the request; with tracing on, lines carry the `trace_id` too.
 * Secrets never reach the output: credential fields are censored at any depth we log, and
 * URLs lose their user info and key-like query parameters.
 */

export interface LoggerOptions {
  /** Force human-readable (true) or JSON (false) output; by default decided from the environment. */
  pretty?: boolean;
  /** Where JSON lines go (default stdout); tests capture them here. */
  destination?: DestinationStream;
  env?: NodeJS.ProcessEnv;
}

const CENSOR = '[redacted]';
/**
 * Field names whose values are never written, at any depth: `llm.apiKey`,
 * `req.headers.authorization`, `config.embed.apiKey` … Matched case-insensitively.
 *
 * Censored by the line formatter (scrubFields), not by pino's `redact`: redact paths that start
 * with a wildcard run every child logger's bindings through the redactor, and Fastify makes a
 * child per request — that alone cost about a tenth of a cached query's CPU.
 */
const SECRET_KEYS = new Set(['apikey', 'api_key', 'adminkey', 'admin_key', 'authorization', 'cookie', 'password', 'secret', 'x-api-key']);
const MAX_SCRUB_DEPTH = 6;

const URL_USERINFO = /\/\/[^/?#@\s]+@/g;
const URL_SECRET_PARAM = /([?&](?:api[_-]?key|key|access_token|token|secret|password|sig|signature)=)[^&#\s]*/gi;

/** A URL (or any text holding one) with credentials replaced: `//user:pass@` and `?api_key=…`. */
export function scrubUrl(text: string): string {
  if (!text.includes('@') && !text.includes('=')) return text;
  return text.replace(URL_USERINFO, `//${CENSOR}@`).replace(URL_SECRET_PARAM, `$1${CENSOR}`);
}

/** Fastify's request serializer, with the URL scrubbed. */
function requestSerializer(req: { method?: string; url?: string; host?: string; ip?: string; socket?: { remotePort?: number } }) {
  return {
    method: req.method,
    url: req.url === undefined ? undefined : scrubUrl(req.url),
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);

/**
 * A log line's fields with secrets censored and URL credentials scrubbed, descending into plain
 * objects and arrays. Copies only what it changes, so a clean line costs one walk and no allocation.
 */
function scrubFields(obj: Record<string, unknown>, depth = 0): Record<string, unknown> {
  let out: Record<string, unknown> | null = null;
  for (const [key, value] of Object.entries(obj)) {
    let clean = value;
    if (SECRET_KEYS.has(key.toLowerCase())) clean = value === undefined ? value : CENSOR;
    else if (typeof value === 'string') clean = scrubUrl(value);
    else if (depth < MAX_SCRUB_DEPTH && isPlainObject(value)) clean = scrubFields(value, depth + 1);
    else if (depth < MAX_SCRUB_DEPTH && Array.isArray(value)) {
      const items = value.map((v) => (isPlainObject(v) ? scrubFields(v, depth + 1) : typeof v === 'string' ? scrubUrl(v) : v));
      if (items.some((v, i) => v !== value[i])) clean = items;
    }
    if (clean !== value) (out ??= { ...obj })[key] = clean;
  }
  return out ?? obj;
}

/** pino's error serializer, then the same scrubbing: provider errors carry request headers and URLs. */
function errSerializer(err: unknown): unknown {
  // Its result is not a plain object (pino gives it an error prototype): scrub it at the top level.
  const serialized = pino.stdSerializers.err(err as Error) as unknown;
  return serialized !== null && typeof serialized === 'object' ? scrubFields(serialized as Record<string, unknown>) : serialized;
}

/**
 * Adds the active trace id when tracing is on. (The request id comes from the request's own
 * logger in the HTTP layer, and from QueryHooks.requestId in the provider lanes' lines.)
 */
function contextMixin(): object {
  const traceId = activeTraceId();
  return traceId === undefined ? {} : { trace_id: traceId };
}

function wantsPretty(env: NodeJS.ProcessEnv): boolean {
  if (env.RAGD_LOG_PRETTY === '1' || env.RAGD_LOG_PRETTY === 'true') return true;
  if (env.RAGD_LOG_PRETTY === '0' || env.RAGD_LOG_PRETTY === 'false' || env.RAGD_LOG_FORMAT === 'json') return false;
  return process.stdout.isTTY === true;
}

export function createLogger(level: string, opts: LoggerOptions = {}): Logger {
  const pretty = !opts.destination && (opts.pretty ?? wantsPretty(opts.env ?? process.env));
  const options: pino.LoggerOptions = {
    level,
    serializers: { req: requestSerializer, err: errSerializer },
    mixin: contextMixin,
    formatters: { log: scrubFields },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
