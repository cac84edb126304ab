import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The HTTP request a piece of work runs for. Route handlers run inside it (see
 * http-observer.ts), so everything they call — services, provider lanes, their log lines —
 * can name the request without being handed its id.
 */
export interface RequestContext {
  reqId: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

export function runInRequest<T>(ctx: RequestContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

export function currentRequestId(): string | undefined {
  return storage.getStore()?.reqId;
}
