import pino, { type DestinationStream, type Logger } from 'pino';
import { currentRequestId } from '../observability/request-context.js';
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
const SECRET_KEYS = ['apiKey', 'api_key', 'adminKey', 'admin_key', 'authorization', 'cookie', 'password', 'secret'];
const DEPTHS = ['', '*.', '*.*.', '*.*.*.'];
/** Every secret-named field up to four levels deep: `llm.apiKey`, `req.headers.authorization`, `config.embed.apiKey` … */
export const REDACT_PATHS = [
  ...DEPTHS.flatMap((prefix) => SECRET_KEYS.map((key) => `${prefix}${key}`)),
  ...['*', '*.*', '*.*.*'].map((prefix) => `${prefix}["x-api-key"]`),
];

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

/** Scrubs URL credentials from string fields of a log line (and of objects one level down). */
function scrubFields(obj: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | null = null;
  for (const [key, value] of Object.entries(obj)) {
    let clean = value;
    if (typeof value === 'string') clean = scrubUrl(value);
    else if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
      clean = scrubFields(value as Record<string, unknown>);
    }
    if (clean !== value) (out ??= { ...obj })[key] = clean;
  }
  return out ?? obj;
}

const hasBinding = (logger: Logger, key: string): boolean =>
  ((logger as unknown as Record<symbol, string | undefined>)[pino.symbols.chindingsSym] ?? '').includes(`"${key}":`);

/** Adds the current request id (unless the logger is already a request's child) and trace id. */
function contextMixin(_obj: object, _level: number, logger: Logger): object {
  const reqId = currentRequestId();
  const traceId = activeTraceId();
  if (reqId === undefined && traceId === undefined) return {};
  return {
    ...(reqId !== undefined && !hasBinding(logger, 'reqId') ? { reqId } : {}),
    ...(traceId !== undefined ? { trace_id: traceId } : {}),
  };
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
    redact: { paths: REDACT_PATHS, censor: CENSOR },
    serializers: { req: requestSerializer },
    mixin: contextMixin,
    formatters: { log: scrubFields },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
