import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { basename } from 'node:path';
import pino from 'pino';
import { createLogger } from '../app/logger.js';
import type { Config } from '../config/config.js';
import { collectFiles, type FileEntry } from './ingest/files.js';
import { createView, isFinal, type TaskState } from './ingest/progress-view.js';
import { parseRetryAfter, ServerBusyError, UploadPacer } from './ingest/upload-pacer.js';
import { readSse } from './sse-reader.js';
import { authHeader } from './credentials.js';

/**
 * `ragd ingest <files|dirs…> [--kb default] [--url http://127.0.0.1:8080] [--embedded]`
 *
 * Uploads files (a few at a time) and follows each document through the pipeline until it is
 * ready or failed, showing live progress. Over HTTP by default; `--embedded` opens the data
 * directory in this process instead (no server needed).
 */

const UPLOAD_CONCURRENCY = 4;
/** Tasks followed at once; also the most per-file bars on screen. */
const FOLLOW_CONCURRENCY = 16;
/** No bytes (not even the server's 15 s ping) for this long means the stream is dead: reconnect. */
const SSE_IDLE_MS = 45_000;
const POLL_MS = 1000;
const TENANT = 'default';


type Env = Record<string, string | undefined>;



interface Uploaded {
  id: string;
  task_id: string;
  duplicate: boolean;
}

/** Where documents go: a ragd server over HTTP, or a runtime in this process. */
interface Backend {
  upload(file: FileEntry): Promise<Uploaded>;
  /** Calls `onTask` on every state change (current state first); resolves with the final state. */
  follow(taskId: string, onTask: (t: TaskState) => void): Promise<TaskState>;
  close(): Promise<void>;
}

export async function ingest(config: Config, paths: string[], env: Env, switches: Set<string>): Promise<number> {
  if (switches.has('help') || paths.length === 0) {
    console.error('usage: ragd ingest <files|dirs…> [--kb default] [--url http://127.0.0.1:8080] [--embedded]');
    return paths.length === 0 && !switches.has('help') ? 2 : 0;
  }
  const kb = env.RAGD_KB ?? process.env.RAGD_KB ?? 'default';
  const { files, notes } = await collectFiles(paths);
  for (const note of notes) console.error(note);
  if (files.length === 0) {
    console.error('nothing to ingest: no supported files found');
    return 1;
  }

  let backend: Backend;
  try {
    backend = switches.has('embedded') ? await embeddedBackend(config, kb) : await httpBackend(serverUrl(config, env), kb);
  } catch (err) {
    console.error(errorText(err));
    return 1;
  }
  const view = createView(files, Boolean(process.stdout.isTTY) && !switches.has('json'));
  const onSigint = () => {
    view.stop();
    console.error('\ninterrupted: stopping');
    // Embedded: hand back job leases so the next run (or a server) resumes at once.
    backend.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSigint);

  const started = Date.now();
  const results = new Map<FileEntry, { ok: boolean; error?: string; duplicate?: boolean }>();
  const uploads = limiter(UPLOAD_CONCURRENCY);
  const follows = limiter(FOLLOW_CONCURRENCY);
  const pacer = new UploadPacer();
  /** Uploads one file, waiting for room while the server's backlog is full. */
  const uploadPaced = async (file: FileEntry): Promise<Uploaded> => {
    for (;;) {
      await pacer.ready();
      view.update(file, 'uploading', null);
      try {
        const uploaded = await backend.upload(file);
        pacer.accepted();
        return uploaded;
      } catch (err) {
        if (!(err instanceof ServerBusyError) && !connectionCut(err)) throw err;
        const waitMs = pacer.refused(err instanceof ServerBusyError ? err.retryAfterMs : undefined);
        if (waitMs === null) throw new Error(`${errorText(err)} (the server made no progress for 10 minutes)`);
        view.update(file, 'waiting for room', null);
        view.waiting(++pacer.waiting);
        await pacer.ready().finally(() => view.waiting(--pacer.waiting));
      }
    }
  };
  try {
    await Promise.all(
      files.map(async (file) => {
        let uploaded: Uploaded;
        try {
          uploaded = await uploads(() => uploadPaced(file));
        } catch (err) {
          results.set(file, { ok: false, error: `upload: ${errorText(err)}` });
          view.settle(file, false, `upload: ${errorText(err)}`);
          return;
        }
        view.update(file, uploaded.duplicate ? 'queued (duplicate)' : 'queued', null);
        try {
          const final = await follows(() => backend.follow(uploaded.task_id, (t) => view.update(file, statusText(t), t)));
          pacer.progress();
          const ok = final.status === 'succeeded';
          results.set(file, { ok, duplicate: uploaded.duplicate, ...(ok ? {} : { error: final.error ?? 'failed' }) });
          view.settle(file, ok, final.error ?? undefined);
        } catch (err) {
          results.set(file, { ok: false, error: errorText(err) });
          view.settle(file, false, errorText(err));
        }
      }),
    );
  } finally {
    process.off('SIGINT', onSigint);
    view.stop();
    await backend.close();
  }

  const failed = [...results].filter(([, r]) => !r.ok);
  const duplicates = [...results.values()].filter((r) => r.duplicate).length;
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const mb = (files.reduce((n, f) => n + f.bytes, 0) / (1024 * 1024)).toFixed(1);
  console.log(
    `${files.length} file(s), ${mb} MB in ${seconds} s: ${files.length - failed.length} ready, ${failed.length} failed` +
      (duplicates > 0 ? `, ${duplicates} already present (duplicate content)` : ''),
  );
  if (failed.length > 0) {
    console.error('failures:');
    for (const [file, r] of failed) console.error(`  ${file.label}: ${r.error}`);
  }
  return failed.length > 0 ? 1 : 0;
}

export function serverUrl(config: Config, env: Env): string {
  const explicit = env.RAGD_URL ?? process.env.RAGD_URL;
  if (explicit) return explicit.replace(/\/+$/, '');
  // A server listening on every interface is reached on loopback.
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`;
}

function statusText(t: TaskState): string {
  if (t.status === 'queued') return 'queued';
  if (t.status === 'succeeded') return 'ready';
  if (t.status === 'failed') return 'failed';
  return t.stage ?? t.status;
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    // undici reports "fetch failed" and hides the reason in `cause`.
    if (cause?.code) return `${err.message}: ${cause.code}`;
    if (cause?.message) return `${err.message}: ${cause.message}`;
    return err.message;
  }
  return String(err);
}

/** Runs at most `n` of the given functions at once. */
function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    if (active >= n) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

// ---------------------------------------------------------------------------------------------
// Over HTTP

async function httpBackend(url: string, kb: string): Promise<Backend> {
  // One clear message instead of one "fetch failed" per file when nothing is listening.
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5000) });
    await res.body?.cancel();
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
  } catch (err) {
    throw new Error(`cannot reach ragd at ${url} (${errorText(err)}): start it with \`ragd serve\`, pass --url, or use --embedded`);
  }
  const kbPath = `${url}/v1/kbs/${encodeURIComponent(kb)}`;
  return {
    async upload(file) {
      const { status, body, retryAfter } = await postFile(`${kbPath}/documents`, file.path);
      // 503 (backlog full, draining) and 429 (a tenant's rate) mean "later": the caller waits and retries.
      if (status === 503 || status === 429) throw new ServerBusyError(apiErrorText(status, body), parseRetryAfter(retryAfter));
      if (status !== 202) throw new Error(apiErrorText(status, body));
      const doc = (body as { documents?: Uploaded[] } | null)?.documents?.[0];
      if (!doc) throw new Error('the server accepted the upload but returned no document');
      return doc;
    },
    follow: (taskId, onTask) => followHttp(url, taskId, onTask),
    async close() {},
  };
}

/**
 * One file as a multipart upload (field `file`), streamed from disk with backpressure.
 *
 * Not fetch + FormData + fs.openAsBlob: on Node 20 fetch reads a streamed body far ahead of the
 * socket, so a 1 GB file cost ~1 GB of memory; node:http piping a file stream stays flat.
 */
async function postFile(url: string, path: string): Promise<{ status: number; body: unknown; retryAfter: string | undefined }> {
  const boundary = `----ragd-${randomBytes(16).toString('hex')}`;
  // The name in UTF-8 as browsers send it, with the characters that would break the header
  // percent-encoded (RFC 7578 §4.2; `filename*` must not be used in form data).
  const filename = basename(path).replace(/["\r\n]/g, (c) => encodeURIComponent(c));
  const head = Buffer.from(
    `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${filename}"\r\n` +
      'content-type: application/octet-stream\r\n\r\n',
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const { size } = await stat(path);
  const target = new URL(url);
  const req = (target.protocol === 'https:' ? httpsRequest : httpRequest)(target, {
    method: 'POST',
    headers: {
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': String(head.length + size + tail.length),
      accept: 'application/json',
      ...authHeader(),
    },
  });
  const response = new Promise<IncomingMessage>((resolveResponse, reject) => {
    req.once('response', resolveResponse);
    req.once('error', reject);
  });
  async function* body() {
    yield head;
    yield* createReadStream(path);
    yield tail;
  }
  // The server may answer (413, 415 …) and stop reading before the body is sent: then the
  // write fails, but the answer is what matters.
  const sent = pipeline(Readable.from(body()), req).catch((err: unknown) => err);
  const res = await response;
  let text = '';
  res.setEncoding('utf8');
  for await (const chunk of res) text += chunk as string;
  // An early answer leaves the rest of the body unsent, and the server no longer reads it:
  // drop the connection instead of waiting for a drain that never comes.
  if (!req.writableFinished) req.destroy();
  await sent;
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON (a proxy's error page): the status alone is reported.
  }
  const retryAfter = res.headers['retry-after'];
  return { status: res.statusCode ?? 0, body: parsed, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter };
}

function apiErrorText(status: number, body: unknown): string {
  const error = (body as { error?: { code?: string; message?: string } } | null)?.error;
  return error?.message ? `HTTP ${status} ${error.code ?? ''}: ${error.message}` : `HTTP ${status}`;
}

/**
 * Follows a task over its SSE stream; reconnects when the stream drops (the server sends the
 * current state first, and versions discard anything already seen); falls back to polling
 * when the stream cannot be opened at all (e.g. a proxy that buffers event streams).
 */
async function followHttp(url: string, taskId: string, onTask: (t: TaskState) => void): Promise<TaskState> {
  let last: TaskState | null = null;
  const deliver = (t: TaskState): boolean => {
    if (last && t.version <= last.version) return false;
    last = t;
    onTask(t);
    return isFinal(t);
  };
  // Attempts in a row that brought nothing new; a stream that keeps dropping ends in polling.
  let failures = 0;
  while (failures < 3) {
    const before = last;
    const controller = new AbortController();
    let idle = setTimeout(() => controller.abort(), SSE_IDLE_MS);
    let final: TaskState | null = null;
    try {
      const res = await fetch(`${url}/v1/tasks/${encodeURIComponent(taskId)}/events`, {
        headers: { accept: 'text/event-stream', ...authHeader() },
        signal: controller.signal,
      });
      if (res.status === 404) throw Object.assign(new Error(`task ${taskId} no longer exists`), { fatal: true });
      if (!res.ok || !res.body || !res.headers.get('content-type')?.startsWith('text/event-stream')) {
        await res.body?.cancel();
        break;
      }
      for await (const ev of readSse(res.body, () => {
        clearTimeout(idle);
        idle = setTimeout(() => controller.abort(), SSE_IDLE_MS);
      })) {
        if (ev.event !== 'task') continue;
        if (deliver(JSON.parse(ev.data) as TaskState)) {
          // Leaving the loop cancels the body. Do not abort first: the cancellation would then
          // reject with the abort and the final state would be mistaken for a dropped stream.
          final = last;
          break;
        }
      }
    } catch (err) {
      if ((err as { fatal?: boolean }).fatal) throw err;
    } finally {
      clearTimeout(idle);
    }
    if (final) return final;
    failures = last !== before ? 0 : failures + 1;
    await new Promise((r) => setTimeout(r, 250 * (failures + 1)));
  }
  // Polling fallback.
  for (;;) {
    const res = await fetch(`${url}/v1/tasks/${encodeURIComponent(taskId)}`, { headers: authHeader() });
    const body = await res.json().catch(() => null);
    if (res.status === 404) throw new Error(`task ${taskId} no longer exists`);
    if (res.ok && deliver(body as TaskState)) return last!;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

// ---------------------------------------------------------------------------------------------
// In this process

async function embeddedBackend(config: Config, kb: string): Promise<Backend> {
  const { createRuntime } = await import('../app/runtime.js');
  // Logs go to stderr and stay quiet unless asked for, so they do not tear the progress bars
  // (a failed document is a pipeline warning, and this command reports it itself).
  const level = process.env.RAGD_LOG_LEVEL ? config.logLevel : 'error';
  const logger = createLogger(level, { destination: pino.destination(2) });
  const runtime = await createRuntime(config, logger);
  const scope = { tenantId: TENANT, kbId: kb };
  let closed: Promise<void> | null = null;
  return {
    async upload(file) {
      const doc = await runtime.documents.uploadStream(scope, { filename: basename(file.path), stream: createReadStream(file.path) });
      return { id: doc.id, task_id: doc.task_id, duplicate: doc.duplicate };
    },
    follow(taskId, onTask) {
      return new Promise<TaskState>((resolveFinal, reject) => {
        let unsubscribe: (() => void) | null = null;
        let done = false;
        runtime.tasks
          .follow(TENANT, taskId, (t) => {
            if (done) return;
            onTask(t);
            if (isFinal(t)) {
              done = true;
              unsubscribe?.();
              resolveFinal(t);
            }
          })
          .then((u) => {
            // The final state may have arrived before follow() handed back its unsubscribe.
            if (done) u();
            else unsubscribe = u;
          }, reject);
      });
    },
    close() {
      closed ??= runtime.close();
      return closed;
    },
  };
}

/**
 * The connection was cut while the file was being sent: a server that refuses an upload while its
 * backlog is full may answer before it has read the body and close the socket, and the client then
 * sees EPIPE or a reset instead of the 503. Sending the file again is safe: bytes the server already
 * stored come back as a duplicate of the same document.
 */
const CUT_CODES = new Set(['EPIPE', 'ECONNRESET', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);
function connectionCut(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CUT_CODES.has(code)) return true;
  }
  return false;
}
