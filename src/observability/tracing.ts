import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TimeInput,
} from '@opentelemetry/api';
import type { Logger } from 'pino';

/**
 * OpenTelemetry tracing, off unless an OTLP endpoint is configured. Code everywhere calls the
 * helpers below; while tracing is off they return at once, and the SDK (exporter, batching,
 * the AsyncLocalStorage context manager) is never even loaded.
 *
 * One trace follows work across the process: the HTTP request span is the parent of the query
 * phases and of the outbound model calls made while it runs; an upload stores its span's W3C
 * `traceparent` with the pipeline job, and every stage job of that document continues the trace.
 */

export interface TracingConfig {
  /** OTLP/HTTP traces URL (…/v1/traces); null = tracing off. */
  endpoint: string | null;
  serviceName: string;
}

export interface TracingHandle {
  /** Flushes buffered spans and, when this was the last user, unregisters the SDK. */
  shutdown(): Promise<void>;
}

const TRACER_NAME = 'ragd';
let enabled = false;
let users = 0;
let sdk: { shutdown(): Promise<void>; forceFlush(): Promise<void> } | null = null;

export function tracingEnabled(): boolean {
  return enabled;
}

/**
 * Starts the SDK once per process (several runtimes in one process, as in tests, share it).
 * Only OTLP over HTTP with JSON bodies is built in; another OTEL_EXPORTER_OTLP_PROTOCOL is
 * reported and JSON is used anyway.
 */
export async function startTracing(config: TracingConfig, logger: Logger, env: NodeJS.ProcessEnv = process.env): Promise<TracingHandle | null> {
  if (!config.endpoint) return null;
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL;
  if (protocol && protocol !== 'http/json') {
    logger.warn({ protocol }, 'only OTLP http/json is built in; exporting traces as http/json');
  }
  users++;
  if (!sdk) {
    const [{ NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }, { ATTR_SERVICE_NAME }] =
      await Promise.all([
        import('@opentelemetry/sdk-trace-node'),
        import('@opentelemetry/exporter-trace-otlp-http'),
        import('@opentelemetry/resources'),
        import('@opentelemetry/semantic-conventions'),
      ]);
    const provider = new NodeTracerProvider({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName }),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: config.endpoint }))],
    });
    // Installs the AsyncLocalStorage context manager and the W3C trace-context propagator.
    provider.register();
    sdk = provider;
    enabled = true;
    logger.info({ endpoint: config.endpoint }, 'tracing: exporting spans over OTLP/HTTP');
  }
  let stopped = false;
  return {
    async shutdown() {
      if (stopped) return;
      stopped = true;
      users--;
      const current = sdk;
      if (!current) return;
      if (users > 0) {
        await current.forceFlush();
        return;
      }
      sdk = null;
      enabled = false;
      await current.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/** The tracer; a no-op one while tracing is off. */
export function tracer() {
  return trace.getTracer(TRACER_NAME);
}

/**
 * The active trace context in a form that can be stored with a job (JSON of the W3C
 * `traceparent`/`tracestate` headers), or null when tracing is off or nothing is being traced.
 */
export function captureTraceContext(ctx: Context = context.active()): string | null {
  if (!enabled) return null;
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier.traceparent ? JSON.stringify(carrier) : null;
}

/** The context a stored trace context continues (the root context when there is none). */
export function restoreTraceContext(stored: string | null | undefined): Context {
  if (!enabled || !stored) return ROOT_CONTEXT;
  try {
    const carrier = JSON.parse(stored) as unknown;
    return carrier && typeof carrier === 'object' ? propagation.extract(ROOT_CONTEXT, carrier as Record<string, string>) : ROOT_CONTEXT;
  } catch {
    return ROOT_CONTEXT;
  }
}

export interface SpanOptions {
  attributes?: Attributes;
  kind?: SpanKind;
  /** Parent context; the active one by default. */
  parent?: Context;
}

/** Records a failure on the span: the exception event and an error status. */
export function failSpan(span: Span, err: unknown): void {
  if (err instanceof Error) span.recordException(err);
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

/**
 * Runs `fn` inside a new span (made the active one, so spans started within are its children),
 * ending it when `fn` settles. Without tracing it is just `fn()`.
 */
export async function withSpan<T>(name: string, opts: SpanOptions, fn: (span: Span | null) => Promise<T>): Promise<T> {
  if (!enabled) return fn(null);
  const parent = opts.parent ?? context.active();
  const span = tracer().startSpan(name, { ...(opts.attributes ? { attributes: opts.attributes } : {}), kind: opts.kind ?? SpanKind.INTERNAL }, parent);
  return context.with(trace.setSpan(parent, span), async () => {
    try {
      return await fn(span);
    } catch (err) {
      failSpan(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/**
 * A span for work that has already happened (its start is known only when it ends), as a child
 * of the active context: used for outbound model calls, reported by the lane when they settle.
 */
export function recordFinishedSpan(name: string, a: { startTime: TimeInput; kind: SpanKind; attributes: Attributes; error?: unknown }): void {
  if (!enabled) return;
  const span = tracer().startSpan(name, { startTime: a.startTime, kind: a.kind, attributes: a.attributes }, context.active());
  if (a.error !== undefined) failSpan(span, a.error);
  span.end();
}

/** The trace id of the active span, for log lines; undefined while tracing is off. */
export function activeTraceId(): string | undefined {
  if (!enabled) return undefined;
  const sc = trace.getActiveSpan()?.spanContext();
  return sc && sc.traceId !== '00000000000000000000000000000000' ? sc.traceId : undefined;
}

export { SpanKind };
