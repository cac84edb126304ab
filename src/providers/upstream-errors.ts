import { AppError } from '../domain/errors.js';
import { ProviderTimeoutError, ProviderUnavailableError } from '../ports/models.js';
import type { FailureKind } from './lane-types.js';

/**
 * How the provider lane reads a failed attempt: an upstream HTTP status, a Retry-After, a network
 * error under undici's or the openai SDK's wrapping, a timeout. Pure functions, so the retry and
 * breaker policy in lane.ts reads as policy.
 */

/**
 * An upstream HTTP failure in the shape the lane classifies: adapters that do not use the openai
 * SDK (whose APIError has the same `status` and `headers`) throw this for non-2xx answers.
 */
export class UpstreamHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers?: Headers,
  ) {
    super(message);
    this.name = 'UpstreamHttpError';
  }
}

/** The breaker is open: the call failed fast without reaching the provider. */
export class CircuitOpenError extends ProviderUnavailableError {
  /** `retryAfterMs`: the breaker's reset timeout, an upper bound on when it will try again. */
  constructor(provider: string, retryAfterMs?: number) {
    super(provider, 'circuit open, failing fast', retryAfterMs);
    this.name = 'CircuitOpenError';
  }
}

/** The error a lane rejects with when the caller aborts: the signal's reason when it is an Error (as fetch does), else an AbortError. */
export function abortError(signal?: AbortSignal): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error) return reason;
  return new DOMException('The operation was aborted', 'AbortError');
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}


const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);
export const TIMEOUT_STATUS = new Set([408, 504]);
const NETWORK_CODES = new Set([
  'EPROVIDEREGRESS',
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH',
  'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
]);
const NETWORK_MESSAGES = new Set(['fetch failed', 'terminated', 'other side closed']);


export type ErrorClass =
  | { kind: 'breaker_open' }
  | { kind: 'timeout' }
  | { kind: 'rate_limited'; status: number; retryAfterMs?: number }
  | { kind: 'upstream'; status: number; retryAfterMs?: number } // retryable 408/5xx
  | { kind: 'network' }
  | { kind: 'rejected'; status: number } // 4xx and other statuses retrying cannot fix
  | { kind: 'other' };

function statusOf(err: unknown): number | undefined {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' && status >= 100 && status <= 599 ? status : undefined;
}

function header(err: unknown, name: string): string | undefined {
  const headers = (err as { headers?: unknown } | null)?.headers;
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  if (headers && typeof headers === 'object') {
    const v = (headers as Record<string, unknown>)[name];
    return typeof v === 'string' ? v : undefined;
  }
  return undefined;
}

/** Retry-After as milliseconds: `retry-after-ms` (OpenAI), then `retry-after` in seconds or as an HTTP date. */
export function retryAfterMs(err: unknown, now = Date.now()): number | undefined {
  const ms = Number(header(err, 'retry-after-ms'));
  if (header(err, 'retry-after-ms') !== undefined && Number.isFinite(ms) && ms >= 0) return ms;
  const raw = header(err, 'retry-after');
  if (raw === undefined) return undefined;
  const seconds = Number(raw);
  if (raw.trim() !== '' && Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function isNetworkError(err: unknown): boolean {
  // undici wraps socket errors: TypeError('fetch failed') → cause { code: 'ECONNREFUSED' }; the openai
  // SDK wraps that once more in APIConnectionError. Walk the cause chain a few levels.
  let e: unknown = err;
  for (let depth = 0; depth < 6 && e !== null && typeof e === 'object'; depth++) {
    const { code, message, name } = e as { code?: unknown; message?: unknown; name?: unknown };
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
    if (typeof message === 'string' && NETWORK_MESSAGES.has(message)) return true;
    if (name === 'APIConnectionError') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

export function classify(err: unknown): ErrorClass {
  if ((err as { code?: unknown } | null)?.code === 'EOPENBREAKER') return { kind: 'breaker_open' };
  if (err instanceof ProviderTimeoutError) return { kind: 'timeout' };
  if (err instanceof AppError) return { kind: 'other' }; // already a client-facing decision made by the task
  const status = statusOf(err);
  if (status !== undefined) {
    if (status === 429) return { kind: 'rate_limited', status, retryAfterMs: retryAfterMs(err) };
    if (RETRY_STATUS.has(status)) return { kind: 'upstream', status, retryAfterMs: retryAfterMs(err) };
    if (status >= 400) return { kind: 'rejected', status };
  }
  if (isNetworkError(err)) return { kind: 'network' };
  return { kind: 'other' };
}

export const FAILURE_KIND: Record<ErrorClass['kind'], FailureKind> = {
  breaker_open: 'breaker_open',
  timeout: 'timeout',
  rate_limited: 'rate_limited',
  upstream: 'upstream_error',
  network: 'network',
  rejected: 'client_error',
  other: 'other',
};

/** Failures that say "the provider is in trouble" and so count toward opening the breaker. */
export function isOutage(c: ErrorClass): boolean {
  return c.kind === 'timeout' || c.kind === 'upstream' || c.kind === 'network';
}

export function isRetryable(c: ErrorClass): boolean {
  return c.kind === 'rate_limited' || c.kind === 'upstream' || c.kind === 'network';
}

export function messageOf(err: unknown): string {
  // An upstream's error body may name its internal hosts or echo what it was sent: the tenant is
  // told the status only (the full error goes to the log at the lane).
  const status = statusOf(err);
  if (status !== undefined) return `HTTP ${status}`;
  if (isNetworkError(err)) return `connection failed${networkCodeOf(err) ? ` (${networkCodeOf(err)})` : ''}`;
  return err instanceof Error ? err.message : String(err);
}

/** The first error code in the cause chain (ECONNREFUSED, EPROVIDEREGRESS …). */
function networkCodeOf(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 6 && e !== null && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z_]+$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
