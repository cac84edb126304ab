/**
 * A small load generator for bench:query: keep-alive HTTP/1.1 via node:http (lighter per request
 * than fetch, so the client is less of a bottleneck on a small machine), closed-loop runs, a
 * streaming SSE consumer, and latency statistics.
 */
import { rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';

export interface Reply {
  status: number;
  body: string;
  ms: number;
}

export class Client {
  private readonly agent: http.Agent;
  private readonly base: URL;

  /** `headers` go on every request (e.g. a tenant's `authorization`). */
  constructor(baseUrl: string, maxSockets = 1024, private readonly headers: Record<string, string> = {}) {
    this.base = new URL(baseUrl);
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  post(path: string, body: unknown): Promise<Reply> {
    const payload = Buffer.from(JSON.stringify(body));
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: this.base.hostname,
          port: this.base.port,
          path,
          method: 'POST',
          agent: this.agent,
          headers: { ...this.headers, 'content-type': 'application/json', 'content-length': payload.length },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** A streaming query: resolves when the stream ends, with counts of what arrived. */
  stream(path: string, body: unknown): Promise<{ status: number; tokens: number; done: boolean; error: boolean; ms: number; firstByteMs: number }> {
    const payload = Buffer.from(JSON.stringify({ ...(body as object), stream: true }));
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: this.base.hostname,
          port: this.base.port,
          path,
          method: 'POST',
          agent: this.agent,
          headers: { ...this.headers, 'content-type': 'application/json', 'content-length': payload.length },
        },
        (res) => {
          let tokens = 0;
          let done = false;
          let error = false;
          let firstByteMs = -1;
          let tail = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            if (firstByteMs < 0) firstByteMs = performance.now() - started;
            const text = tail + chunk;
            tokens += text.split('event: token\n').length - 1;
            if (text.includes('event: done\n')) done = true;
            if (text.includes('event: error\n')) error = true;
            // Keep the end of the chunk so an event name split across chunks is still seen.
            tail = text.slice(-16);
            if (tail.includes('\n')) tail = tail.slice(tail.lastIndexOf('\n') + 1);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, tokens, done, error, ms: performance.now() - started, firstByteMs }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** How long a load loop runs: for a number of ms, or until the function says stop. */
export type Until = number | (() => boolean);

export interface LoopResult {
  latencies: number[];
  errors: number;
  elapsedMs: number;
}

/** The loop's start, and whether its window is over. */
function loopWindow(until: Until): { started: number; done: () => boolean } {
  const started = performance.now();
  return { started, done: typeof until === 'number' ? () => performance.now() >= started + until : until };
}

/**
 * `connections` loops, each sending the next request as soon as the previous answered, for
 * `until` ms (or until `until()` says stop). Returns the latencies of the requests that completed in the window.
 */
export async function closedLoop(connections: number, until: Until, send: (i: number) => Promise<Reply>): Promise<LoopResult> {
  const latencies: number[] = [];
  let errors = 0;
  let seq = 0;
  const { started, done } = loopWindow(until);
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (!done()) {
        try {
          const r = await send(seq++);
          if (r.status === 200) latencies.push(r.ms);
          else errors++;
        } catch {
          errors++;
        }
      }
    }),
  );
  return { latencies, errors, elapsedMs: performance.now() - started };
}

/**
 * Open loop: requests start on a fixed schedule (`perSecond`), whether or not earlier ones have
 * answered, as independent users would send them. Latency counts from the scheduled start, so a
 * stalled server or a late timer shows up in full instead of quietly slowing the load
 * (coordinated omission, which a closed loop cannot avoid). Unlike a closed loop, it does not
 * saturate the machine: it measures how long a question waits at a given traffic level.
 */
export async function openLoop(perSecond: number, until: Until, send: (i: number) => Promise<Reply>): Promise<LoopResult> {
  const latencies: number[] = [];
  let errors = 0;
  const { started, done } = loopWindow(until);
  const interval = 1000 / perSecond;
  const inFlight: Promise<void>[] = [];
  for (let i = 0; !done(); i++) {
    const due = started + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inFlight.push(
      send(i).then(
        (r) => {
          if (r.status === 200) latencies.push(performance.now() - due);
          else errors++;
        },
        () => {
          errors++;
        },
      ),
    );
  }
  await Promise.all(inFlight);
  return { latencies, errors, elapsedMs: performance.now() - started };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** VmRSS of a process in bytes (Linux /proc), or null elsewhere. */
export async function rssOf(pid: number): Promise<number | null> {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; returns the peak. */
export function rssSampler(pid: number, everyMs = 100): { stop(): Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const rss = await rssOf(pid);
      if (rss !== null && rss > peak) peak = rss;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return peak;
    },
  };
}

/** CPU time (user + system) a process has used so far, in ms (Linux /proc; assumes 100 ticks/s). */
export async function cpuMsOf(pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th overall.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}

/** A positive number from the environment, or `fallback` when unset. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return n;
}

/**
 * Ctrl-C (or SIGTERM) during a bench: `kill` the child server, remove `dirs` synchronously (the
 * list may grow after this call), and leave. Returns the function that disarms it.
 */
export function cleanUpOnSignal(kill: () => void, dirs: string[]): () => void {
  const onSignal = () => {
    kill();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

/** Runs a bench's `main` and exits with its code, or 1 with the error's message. */
export function runBench(main: () => Promise<number>): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exitCode = 1;
    },
  );
}
