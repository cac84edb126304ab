import type { Server } from 'node:http';
import type { FastifyReply } from 'fastify';

/**
 * Server-Sent Events over a hijacked Fastify reply. Shared by task progress and (later) the
 * streaming answers of the query path.
 *
 * Writes are queued and respect backpressure: when `write()` returns false nothing more is
 * written until 'drain'. A client that stops reading cannot make the server buffer without
 * bound: past `maxBufferedBytes` queued, the stream is dropped (the client can reconnect and
 * will get the current state first).
 */
export interface SseStream {
  /**
   * Sends one event. `data` is always JSON-encoded (one `data:` line). Resolves once the bytes
   * are handed to the socket without exceeding its buffer, so a producer that awaits each send
   * is slowed to the client's pace. Resolves immediately (doing nothing) once closed.
   */
  send(event: string, data: unknown, id?: string | number): Promise<void>;
  /** An unnamed event of one `data:` line, as OpenAI streams are framed; `data` must not contain a newline. */
  data(data: string): Promise<void>;
  /** A `: text` comment line, e.g. a keep-alive ping; ignored by EventSource clients. */
  comment(text: string): Promise<void>;
  /** Flushes what is queued, then ends the response. Idempotent. */
  close(): void;
  /** Runs `fn` once when the stream ends for any reason (close(), client gone, too slow). Runs at once if already closed. */
  onClose(fn: () => void): void;
  readonly closed: boolean;
}

export interface SseOptions {
  /** Extra response headers. */
  headers?: Record<string, string>;
  /** Queued bytes beyond which a slow client is dropped. Default 4 MiB. */
  maxBufferedBytes?: number;
  /**
   * The stream ends by itself (a streaming answer): shutdown lets it finish instead of ending it
   * at once, and only drops it when the shutdown deadline passes (dropAllSse).
   */
  finishOnShutdown?: boolean;
}

/**
 * Open streams per HTTP server (each with a function that drops it at once), so that shutdown
 * can end them: they would otherwise hold the server's `close()` forever.
 */
const openStreams = new WeakMap<Server, Map<SseStream, { drop: () => void; finishOnShutdown: boolean }>>();

/** A stream still stuck behind a client that does not read is dropped after this grace period. */
const SHUTDOWN_GRACE_MS = 1_000;

/**
 * Ends every open SSE stream of `server` that would otherwise stay open forever (task progress);
 * streams opened with `finishOnShutdown` (answers) are left to finish. Called from `preClose`.
 */
export function closeAllSse(server: Server): void {
  const streams = openStreams.get(server);
  if (!streams) return;
  for (const [stream, { drop, finishOnShutdown }] of [...streams]) {
    if (finishOnShutdown) continue;
    stream.close();
    if (!stream.closed) setTimeout(drop, SHUTDOWN_GRACE_MS).unref();
  }
}

/** SSE streams open on `server` right now (the open-connections gauge reads it). */
export function openSseCount(server: Server): number {
  return openStreams.get(server)?.size ?? 0;
}

/** Drops every SSE stream of `server` still open, answers included: the shutdown deadline has passed. */
export function dropAllSse(server: Server): void {
  for (const { drop } of [...(openStreams.get(server)?.values() ?? [])]) drop();
}

/** Strips characters that would end a field early (an event name or id must stay on one line). */
const oneLine = (s: string) => s.replace(/[\r\n]/g, '');

interface Pending {
  chunk: string;
  bytes: number;
  resolve: () => void;
}

/**
 * Hijacks `reply` and writes the event-stream response head. Call it only after everything that
 * may still fail with a normal JSON error (404 …) has run: after this the response is raw.
 */
export function openSse(reply: FastifyReply, opts: SseOptions = {}): SseStream {
  const maxBuffered = opts.maxBufferedBytes ?? 4 * 1024 * 1024;
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    // nginx would otherwise buffer the stream and deliver events in bursts.
    'x-accel-buffering': 'no',
    'x-request-id': String(reply.request.id),
    ...opts.headers,
  });
  res.flushHeaders();
  res.socket?.setNoDelay(true);

  const queue: Pending[] = [];
  const closeFns: Array<() => void> = [];
  let queuedBytes = 0;
  let waitingForDrain = false;
  /** The send whose write filled the socket buffer: it resolves on 'drain' (or on close). */
  let drainWaiter: Pending | null = null;
  let ending = false;
  let closed = false;

  const server = reply.server.server;
  let registry = openStreams.get(server);
  if (!registry) {
    registry = new Map();
    openStreams.set(server, registry);
  }

  const finish = () => {
    if (closed) return;
    closed = true;
    registry.delete(stream);
    drainWaiter?.resolve();
    drainWaiter = null;
    for (const p of queue.splice(0)) p.resolve();
    queuedBytes = 0;
    for (const fn of closeFns.splice(0)) {
      try {
        fn();
      } catch (err) {
        reply.log.error({ err }, 'sse close callback failed');
      }
    }
  };

  const flush = () => {
    while (!closed && !waitingForDrain && queue.length > 0) {
      const item = queue.shift()!;
      queuedBytes -= item.bytes;
      if (res.write(item.chunk)) {
        item.resolve();
      } else {
        // The socket buffer is full: hold this producer and everything queued until it drains.
        waitingForDrain = true;
        drainWaiter = item;
        res.once('drain', () => {
          waitingForDrain = false;
          drainWaiter = null;
          item.resolve();
          flush();
        });
      }
    }
    if (!closed && ending && !waitingForDrain && queue.length === 0) {
      res.end();
      finish();
    }
  };

  const enqueue = (chunk: string): Promise<void> => {
    if (closed || ending) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const bytes = Buffer.byteLength(chunk);
      queue.push({ chunk, bytes, resolve });
      queuedBytes += bytes;
      if (queuedBytes > maxBuffered) {
        reply.log.warn({ queuedBytes }, 'sse client is not reading; dropping the stream');
        res.destroy();
        finish();
        return;
      }
      flush();
    });
  };

  // 'close' fires when the response has finished or the connection went away, whichever first.
  res.on('close', finish);
  res.on('error', (err) => {
    reply.log.debug({ err }, 'sse response error');
    finish();
  });

  const stream: SseStream = {
    send(event, data, id) {
      let chunk = `event: ${oneLine(event)}\n`;
      if (id !== undefined) chunk += `id: ${oneLine(String(id))}\n`;
      // JSON.stringify escapes newlines, so the payload is always a single data line.
      chunk += `data: ${JSON.stringify(data) ?? 'null'}\n\n`;
      return enqueue(chunk);
    },
    data(data) {
      return enqueue(`data: ${oneLine(data)}\n\n`);
    },
    comment(text) {
      return enqueue(
        text
          .split(/\r?\n|\r/)
          .map((line) => `: ${line}\n`)
          .join('') + '\n',
      );
    },
    close() {
      if (closed || ending) return;
      ending = true;
      flush();
    },
    onClose(fn) {
      if (closed) fn();
      else closeFns.push(fn);
    },
    get closed() {
      return closed;
    },
  };
  registry.set(stream, {
    drop: () => {
      res.destroy();
      finish();
    },
    finishOnShutdown: opts.finishOnShutdown ?? false,
  });
  // The client may have gone while the caller was still awaiting (the 'close' event already fired).
  if (res.destroyed || res.writableEnded || !res.socket || res.socket.destroyed) finish();
  return stream;
}
