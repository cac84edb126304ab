import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions, Level, Logger } from 'pino';

type Write = (this: Logger, ...args: unknown[]) => void;

/**
 * A request's logger that becomes a pino child only when it first writes a line (or is asked for
 * a child of its own). Fastify makes a logger per request, and the tenant plugin binds the tenant
 * to it; on a busy server most requests write nothing at the configured level, and building that
 * child and re-serializing its bindings was about a tenth of a cached query's CPU.
 *
 * A line that is written is the same as before: the child carries the request id, then the
 * bindings set later (tenant, key prefix), in that order.
 */
export class RequestLogger implements FastifyBaseLogger {
  private real: Logger | null = null;
  /** Bindings set before the child exists, applied when it is made. */
  private pending: Bindings | null = null;

  constructor(
    private readonly parent: Logger,
    private readonly bindings: Bindings,
  ) {}

  get level(): string {
    return this.parent.level;
  }

  set level(level: string) {
    this.materialized().level = level;
  }

  fatal(...args: unknown[]): void {
    this.write('fatal', args);
  }

  error(...args: unknown[]): void {
    this.write('error', args);
  }

  warn(...args: unknown[]): void {
    this.write('warn', args);
  }

  info(...args: unknown[]): void {
    this.write('info', args);
  }

  debug(...args: unknown[]): void {
    this.write('debug', args);
  }

  trace(...args: unknown[]): void {
    this.write('trace', args);
  }

  silent(): void {}

  isLevelEnabled(level: string): boolean {
    return this.real ? this.real.isLevelEnabled(level) : this.parent.isLevelEnabled(level);
  }

  setBindings(bindings: Bindings): void {
    if (this.real) this.real.setBindings(bindings);
    else this.pending = this.pending ? { ...this.pending, ...bindings } : bindings;
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.materialized().child(bindings, options);
  }

  private write(level: Level, args: unknown[]): void {
    if (!this.isLevelEnabled(level)) return;
    const real = this.materialized();
    (real[level] as Write).apply(real, args);
  }

  private materialized(): Logger {
    if (!this.real) {
      this.real = this.parent.child(this.bindings);
      if (this.pending) this.real.setBindings(this.pending);
      this.pending = null;
    }
    return this.real;
  }
}

/**
 * Fastify's `childLoggerFactory`: a RequestLogger, unless the route asks for its own level or
 * serializers (probes and scrapes do), which then get an ordinary child at once.
 */
export function requestLoggerFactory(logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  // Installed only over a pino logger instance (buildHttpApp's `logger`), never Fastify's no-op one.
  const parent = logger as Logger;
  const ownLevel = options.level !== undefined && options.level !== parent.level;
  if (ownLevel || options.serializers !== undefined) return parent.child(bindings, options);
  return new RequestLogger(parent, bindings);
}
