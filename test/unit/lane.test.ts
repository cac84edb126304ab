import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProviderRequestError, ProviderTimeoutError, ProviderUnavailableError } from '../../src/ports/models.js';
import {
  CircuitOpenError,
  type LaneOptions,
  ProviderLane,
  UpstreamHttpError,
  isAbortError,
  retryAfterMs,
} from '../../src/providers/lane.js';

function makeLane(t: TestContext, overrides: Partial<LaneOptions> = {}): ProviderLane {
  const lane = new ProviderLane({
    name: 'test',
    concurrency: 2,
    timeoutMs: 2_000,
    maxRetries: 2,
    backoffBaseMs: 5,
    breaker: { errorThresholdPercentage: 50, volumeThreshold: 100, resetTimeoutMs: 200 },
    ...overrides,
  });
  t.after(() => lane.close());
  return lane;
}

interface Gate {
  promise: Promise<void>;
  open: () => void;
}
function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Resolves when `signal` aborts. */
const aborted = (signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));

async function until(cond: () => boolean, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(2);
  }
}

const http = (status: number, headers?: Record<string, string>) =>
  new UpstreamHttpError(status, `upstream ${status}`, headers ? new Headers(headers) : undefined);

describe('ProviderLane', () => {
  it('never runs more attempts at once than its concurrency', async (t) => {
    const lane = makeLane(t, { concurrency: 3 });
    let running = 0;
    let max = 0;
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        lane.run(
          async () => {
            running++;
            max = Math.max(max, running);
            await sleep(10);
            running--;
            return i;
          },
          { priority: 'bulk' },
        ),
      ),
    );
    assert.deepEqual(results, Array.from({ length: 12 }, (_, i) => i));
    assert.equal(max, 3);
    assert.equal(lane.stats().calls, 12);
    // Slots are released a tick after the callers hear back (once the task has fully let go).
    await until(() => lane.stats().inFlight === 0);
  });

  it('starts queued interactive calls before queued bulk calls', async (t) => {
    const lane = makeLane(t, { concurrency: 1 });
    const blocker = gate();
    const order: string[] = [];
    const first = lane.run(() => blocker.promise, { priority: 'bulk' });
    await until(() => lane.stats().inFlight === 1);
    const queued = [
      ...['b1', 'b2', 'b3'].map((id) => lane.run(async () => void order.push(id), { priority: 'bulk' })),
      lane.run(async () => void order.push('i1'), { priority: 'interactive' }),
    ];
    await until(() => lane.stats().queued === 4);
    blocker.open();
    await Promise.all([first, ...queued]);
    assert.deepEqual(order, ['i1', 'b1', 'b2', 'b3']);
  });

  it('retries 503 and network errors, then succeeds', async (t) => {
    const lane = makeLane(t);
    const failures: unknown[] = [
      http(503),
      Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }) }),
    ];
    let calls = 0;
    const retries: number[] = [];
    lane.on('retry', (info) => retries.push(info.attempt));
    const value = await lane.run(
      async (_signal, ctx) => {
        calls++;
        const failure = failures[ctx.attempt];
        if (failure) throw failure;
        return 'ok';
      },
      { priority: 'interactive' },
    );
    assert.equal(value, 'ok');
    assert.equal(calls, 3);
    assert.deepEqual(retries, [1, 2]);
    assert.equal(lane.stats().retries, 2);
    assert.equal(lane.stats().attempts, 3);
  });

  it('gives up after maxRetries with ProviderUnavailableError', async (t) => {
    const lane = makeLane(t, { maxRetries: 2 });
    let calls = 0;
    await assert.rejects(
      lane.run(
        async () => {
          calls++;
          throw http(502);
        },
        { priority: 'bulk' },
      ),
      (err: unknown) => err instanceof ProviderUnavailableError && err.status === 503 && err.provider === 'test',
    );
    assert.equal(calls, 3);
    assert.equal(lane.stats().failures, 1);
  });

  for (const status of [400, 401, 404]) {
    it(`does not retry ${status}`, async (t) => {
      const lane = makeLane(t);
      let calls = 0;
      await assert.rejects(
        lane.run(
          async () => {
            calls++;
            throw http(status);
          },
          { priority: 'interactive' },
        ),
        (err: unknown) => err instanceof ProviderRequestError && err.upstreamStatus === status && err.status === 502,
      );
      assert.equal(calls, 1);
    });
  }

  it('passes errors that are not upstream failures through unchanged, without retrying', async (t) => {
    const lane = makeLane(t);
    const bug = new RangeError('a bug in the task');
    let calls = 0;
    await assert.rejects(
      lane.run(
        async () => {
          calls++;
          throw bug;
        },
        { priority: 'bulk' },
      ),
      (err: unknown) => err === bug,
    );
    assert.equal(calls, 1);
  });

  it('waits at least Retry-After before retrying a 429', async (t) => {
    const lane = makeLane(t);
    const started = Date.now();
    let second = 0;
    await lane.run(
      async (_s, ctx) => {
        if (ctx.attempt === 0) throw http(429, { 'retry-after-ms': '150' });
        second = Date.now();
      },
      { priority: 'interactive' },
    );
    assert.ok(second - started >= 145, `retried after ${second - started} ms`);
  });

  it('holds the whole lane for a Retry-After, not only the call that got it', async (t) => {
    const lane = makeLane(t, { maxRetries: 0 });
    await assert.rejects(
      lane.run(async () => {
        throw http(429, { 'retry-after-ms': '200' });
      }, { priority: 'bulk' }),
      ProviderUnavailableError,
    );
    const refusedAt = Date.now();
    let startedAt = 0;
    await lane.run(async () => void (startedAt = Date.now()), { priority: 'interactive' });
    assert.ok(startedAt - refusedAt >= 190, `the next call started ${startedAt - refusedAt} ms after the 429`);
  });

  it('adapts its limit when asked to: 429s shrink it, a pinned lane keeps its own', async (t) => {
    const adaptive = makeLane(t, { concurrency: 1, adaptive: { min: 2, max: 16 }, maxRetries: 0 });
    const pinned = makeLane(t, { concurrency: 3, maxRetries: 0 });
    assert.equal(adaptive.stats().limit, 16);
    for (const lane of [adaptive, pinned]) {
      await assert.rejects(lane.run(async () => {
        throw http(429);
      }, { priority: 'bulk' }));
    }
    assert.ok(adaptive.stats().limit < 16, `limit ${adaptive.stats().limit}`);
    assert.equal(pinned.stats().limit, 3);
  });

  it('fails at once when Retry-After is longer than it is willing to wait', async (t) => {
    const lane = makeLane(t, { maxRetryAfterMs: 1_000 });
    let calls = 0;
    const started = Date.now();
    await assert.rejects(
      lane.run(
        async () => {
          calls++;
          throw http(429, { 'retry-after': '120' });
        },
        { priority: 'interactive' },
      ),
      (err: unknown) => err instanceof ProviderUnavailableError && err.headers['retry-after'] === '120',
    );
    assert.equal(calls, 1);
    assert.ok(Date.now() - started < 500);
  });

  it('parses Retry-After in seconds, milliseconds and as a date', () => {
    const withHeaders = (h: Record<string, string>) => ({ headers: new Headers(h) });
    assert.equal(retryAfterMs(withHeaders({ 'retry-after': '2' })), 2_000);
    assert.equal(retryAfterMs(withHeaders({ 'retry-after-ms': '250', 'retry-after': '2' })), 250);
    const now = Date.parse('2025-01-01T00:00:00Z');
    assert.equal(retryAfterMs(withHeaders({ 'retry-after': 'Wed, 01 Jan 2025 00:00:03 GMT' }), now), 3_000);
    assert.equal(retryAfterMs(withHeaders({})), undefined);
    assert.equal(retryAfterMs(new Error('no headers')), undefined);
  });

  it('times out a silent attempt, aborts its signal and does not retry it', async (t) => {
    const lane = makeLane(t, { timeoutMs: 50 });
    let calls = 0;
    let taskSignal: AbortSignal | undefined;
    await assert.rejects(
      lane.run(
        async (signal) => {
          calls++;
          taskSignal = signal;
          await aborted(signal);
          throw new Error('aborted');
        },
        { priority: 'interactive' },
      ),
      (err: unknown) => err instanceof ProviderTimeoutError && err.status === 504,
    );
    assert.equal(calls, 1);
    assert.equal(taskSignal?.aborted, true);
    assert.equal(lane.stats().timeouts, 1);
  });

  it('rejects at the timeout even when the task ignores its signal', async (t) => {
    const lane = makeLane(t, { timeoutMs: 30, abortGraceMs: 50 });
    const started = Date.now();
    await assert.rejects(
      lane.run(() => new Promise<never>(() => undefined), { priority: 'bulk' }),
      ProviderTimeoutError,
    );
    assert.ok(Date.now() - started < 500);
    // The slot is given back after the grace period, so the lane is not wedged.
    await until(() => lane.stats().inFlight === 0);
  });

  it('treats heartbeats as progress, so a steady stream outlives timeoutMs', async (t) => {
    const lane = makeLane(t, { timeoutMs: 60 });
    const value = await lane.run(
      async (_signal, ctx) => {
        for (let i = 0; i < 6; i++) {
          await sleep(25);
          ctx.heartbeat();
        }
        return 'done';
      },
      { priority: 'interactive' },
    );
    assert.equal(value, 'done');
  });

  it('does not retry an attempt that committed (emitted a token) before failing', async (t) => {
    const lane = makeLane(t);
    let calls = 0;
    await assert.rejects(
      lane.run(
        async (_signal, ctx) => {
          calls++;
          ctx.commit();
          throw http(503);
        },
        { priority: 'interactive' },
      ),
      ProviderUnavailableError,
    );
    assert.equal(calls, 1);
  });

  it('rejects at once with an AbortError when the caller aborts in flight, and aborts the task', async (t) => {
    const lane = makeLane(t);
    const caller = new AbortController();
    let taskSignal: AbortSignal | undefined;
    const call = lane.run(
      async (signal) => {
        taskSignal = signal;
        await sleep(10_000, undefined, { signal });
      },
      { priority: 'interactive', signal: caller.signal },
    );
    await until(() => taskSignal !== undefined);
    const started = Date.now();
    caller.abort();
    await assert.rejects(call, (err: unknown) => isAbortError(err));
    assert.ok(Date.now() - started < 1_000);
    assert.equal(taskSignal?.aborted, true);
    assert.equal(lane.stats().aborted, 1);
    assert.equal(lane.stats().failures, 0);
  });

  it('rejects before queueing when the signal is already aborted', async (t) => {
    const lane = makeLane(t);
    let calls = 0;
    await assert.rejects(
      lane.run(async () => void calls++, { priority: 'bulk', signal: AbortSignal.abort() }),
      (err: unknown) => isAbortError(err),
    );
    assert.equal(calls, 0);
  });

  it('removes a call aborted while queued: it rejects at once, never runs, and returns its per-minute token', async (t) => {
    // Budget of 3 per minute: the blocker, the abandoned call's token (refunded) and two more.
    const lane = makeLane(t, { concurrency: 1, requestsPerMinute: 3 });
    const blocker = gate();
    const ran: string[] = [];
    const first = lane.run(async () => {
      ran.push('first');
      await blocker.promise;
    }, { priority: 'bulk' });
    await until(() => lane.stats().inFlight === 1);

    const caller = new AbortController();
    const abandoned = lane.run(async () => void ran.push('abandoned'), { priority: 'interactive', signal: caller.signal });
    const next = lane.run(async () => void ran.push('next'), { priority: 'bulk' });
    await until(() => lane.stats().queued === 2);

    caller.abort();
    await assert.rejects(abandoned, (err: unknown) => isAbortError(err));
    assert.equal(lane.stats().queued, 1);

    blocker.open();
    await Promise.all([first, next]);
    // Without the refund this would wait for the next minute's budget.
    await lane.run(async () => void ran.push('last'), { priority: 'bulk' });
    assert.deepEqual(ran, ['first', 'next', 'last']);
  });

  it('rejects at once when the caller aborts during a retry backoff', async (t) => {
    const lane = makeLane(t, { backoffBaseMs: 10_000 });
    const caller = new AbortController();
    const call = lane.run(
      async () => {
        throw http(503);
      },
      { priority: 'bulk', signal: caller.signal },
    );
    await until(() => lane.stats().backingOff === 1);
    caller.abort();
    await assert.rejects(call, (err: unknown) => isAbortError(err));
    assert.equal(lane.stats().backingOff, 0);
  });

  it('opens the breaker on repeated outages, fails fast, and closes after a successful half-open probe', async (t) => {
    const lane = makeLane(t, {
      maxRetries: 0,
      breaker: { errorThresholdPercentage: 50, volumeThreshold: 4, resetTimeoutMs: 150 },
    });
    const states: string[] = [];
    lane.on('breaker', ({ state }) => states.push(state));
    let calls = 0;
    let healthy = false;
    const task = async (): Promise<string> => {
      calls++;
      if (!healthy) throw http(503);
      return 'ok';
    };
    for (let i = 0; i < 4; i++) await assert.rejects(lane.run(task, { priority: 'bulk' }), ProviderUnavailableError);
    assert.equal(lane.stats().breaker, 'open');

    const before = calls;
    await assert.rejects(lane.run(task, { priority: 'bulk' }), CircuitOpenError);
    assert.equal(calls, before, 'an open breaker must not call the provider');
    assert.equal(lane.stats().rejected, 1);

    healthy = true;
    await until(() => lane.stats().breaker === 'half_open');
    assert.equal(await lane.run(task, { priority: 'interactive' }), 'ok');
    assert.equal(lane.stats().breaker, 'closed');
    assert.deepEqual(states, ['open', 'half_open', 'closed']);
  });

  it('does not count 4xx or 429 toward opening the breaker', async (t) => {
    const lane = makeLane(t, {
      maxRetries: 0,
      breaker: { errorThresholdPercentage: 10, volumeThreshold: 2, resetTimeoutMs: 1_000 },
    });
    for (const status of [400, 404, 429, 400, 429]) {
      await assert.rejects(lane.run(async () => { throw http(status); }, { priority: 'bulk' }));
    }
    assert.equal(lane.stats().breaker, 'closed');
  });

  it('fails queued calls when closed', async (t) => {
    const lane = makeLane(t, { concurrency: 1 });
    const blocker = gate();
    const first = lane.run(() => blocker.promise, { priority: 'bulk' });
    await until(() => lane.stats().inFlight === 1);
    const queued = lane.run(async () => 'never', { priority: 'bulk' });
    await until(() => lane.stats().queued === 1);
    const closing = lane.close();
    await assert.rejects(queued, ProviderUnavailableError);
    blocker.open();
    await first;
    await closing;
    await assert.rejects(lane.run(async () => 1, { priority: 'bulk' }), ProviderUnavailableError);
  });

  it('reports each failure kind to its listeners, for metrics and logs', async (t) => {
    const lane = makeLane(t, { maxRetries: 1 });
    const retried: string[] = [];
    const settled: { outcome: string; kind?: string }[] = [];
    lane.on('retry', (info) => retried.push(info.kind));
    lane.on('settled', (info) => settled.push({ outcome: info.outcome, ...(info.kind ? { kind: info.kind } : {}) }));

    await assert.rejects(lane.run(async () => Promise.reject(http(503)), { priority: 'bulk' }), ProviderUnavailableError);
    await assert.rejects(lane.run(async () => Promise.reject(http(400)), { priority: 'bulk' }), ProviderRequestError);
    await assert.rejects(lane.run(async () => Promise.reject(http(429, { 'retry-after': '0' })), { priority: 'bulk' }));
    assert.equal(await lane.run(async () => 'fine', { priority: 'interactive' }), 'fine');

    assert.deepEqual(retried, ['upstream_error', 'rate_limited']);
    assert.deepEqual(settled, [
      { outcome: 'error', kind: 'upstream_error' },
      { outcome: 'error', kind: 'client_error' },
      { outcome: 'error', kind: 'rate_limited' },
      { outcome: 'ok' },
    ]);
  });
});
