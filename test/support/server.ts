/**
 * Helpers for tests and benches that talk to a real ragd: in-process (`startTestServer`) or as a
 * child process (`spawnServer`), always over real HTTP on a real port with a real data directory.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pino from 'pino';
import { startServer, type RunningServer } from '../../src/app/server.js';
import { loadConfig } from '../../src/config/config.js';

export type Env = Record<string, string>;

/** The repository root: child servers run from here so `src/cli/main.ts` and `tsx` resolve. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Settings that keep test servers small and quiet; every test can override them. */
export const TEST_DEFAULTS: Env = {
  RAGD_HOST: '127.0.0.1',
  RAGD_LOG_LEVEL: 'warn',
  RAGD_WORKERS: '2',
  RAGD_SHUTDOWN_TIMEOUT_MS: '5000',
};

/** A child server's defaults: the tests', less their fixed thread count for a compiled (benchmark) server. */
export function childDefaults(compiled: boolean | undefined): Env {
  if (!compiled) return TEST_DEFAULTS;
  const { RAGD_WORKERS: _fixed, ...shipped } = TEST_DEFAULTS;
  return shipped;
}

export async function tempDir(prefix = 'ragd-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** A port nobody listens on right now (the OS picks it; we release it for the server to take). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => (port > 0 ? resolvePort(port) : reject(new Error('no port assigned'))));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Calls `fn` until it returns something other than undefined/false/null, and returns that.
 * Errors thrown by `fn` count as "not yet" (the last one is reported on timeout), except an
 * error with `fatal: true`, which ends the wait at once.
 */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const intervalMs = opts.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== null && value !== false) return value as T;
    } catch (err) {
      if ((err as { fatal?: unknown } | null)?.fatal === true) throw err;
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? `: last error: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what ?? 'a condition'}${why}`);
    }
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Servers

export interface TestServer {
  url: string;
  dataDir: string;
  server: RunningServer;
  /** Stops the server; removes the data directory if this helper created it. */
  close(): Promise<void>;
}

/** ragd in this process, on a random port and (unless given) a fresh temp data directory. */
export async function startTestServer(envOverrides: Env = {}): Promise<TestServer> {
  const ownDir = envOverrides.RAGD_DATA_DIR === undefined;
  const dataDir = envOverrides.RAGD_DATA_DIR ?? (await tempDir());
  const config = loadConfig({ ...TEST_DEFAULTS, RAGD_PORT: '0', ...envOverrides, RAGD_DATA_DIR: dataDir });
  const logger = pino({ level: envOverrides.RAGD_LOG_LEVEL ?? 'silent' });
  let server: RunningServer;
  try {
    server = await startServer(config, logger);
  } catch (err) {
    if (ownDir) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  let closed: Promise<void> | null = null;
  return {
    url: server.url,
    dataDir,
    server,
    close() {
      closed ??= (async () => {
        await server.close();
        if (ownDir) await rm(dataDir, { recursive: true, force: true });
      })();
      return closed;
    },
  };
}

export interface SpawnedServer {
  url: string;
  port: number;
  child: ChildProcess;
  dataDir: string;
  /** Last output lines of the child (stdout and stderr), for failure messages. */
  output(): string;
  /** Sends `signal` and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Graceful stop (SIGTERM), then SIGKILL if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** Removes the data directory if this helper created it (call after stop). */
  cleanup(): Promise<void>;
}

const OUTPUT_LINES = 200;

/** The arguments after `node` in package.json's `start` script: its Node flags, the launcher, `serve`. */
export function startScriptArgs(): string[] {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
  const [node, ...args] = pkg.scripts.start.trim().split(/\s+/);
  assert.equal(node, 'node', 'the start script runs node');
  return args;
}

/**
 * `ragd serve` as a child process on a free port; resolves once /readyz answers 200. Rejects
 * (with the child's output) if the process exits first or is not ready within `readyTimeoutMs`.
 *
 * Tests run the TypeScript sources through tsx, so they need no build. Benchmarks pass
 * `compiled: true` to run what `npm start` runs, Node flags included (bin/ragd.js over dist/,
 * built first by their npm scripts): tsx's loader keeps its own state in the event loop's heap
 * and compiles every worker thread's modules again, which would be measured as ragd's. A compiled
 * server also keeps the shipped thread count (RAGD_WORKERS from the cores) instead of the tests'
 * fixed two: the thread count moves both throughput and memory, and a benchmark reports defaults.
 */
export async function spawnServer(envOverrides: Env = {}, opts: { readyTimeoutMs?: number; compiled?: boolean } = {}): Promise<SpawnedServer> {
  const ownDir = envOverrides.RAGD_DATA_DIR === undefined;
  const dataDir = envOverrides.RAGD_DATA_DIR ?? (await tempDir());
  const port = envOverrides.RAGD_PORT !== undefined ? Number(envOverrides.RAGD_PORT) : await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // Logs as JSON lines even if the parent runs in a terminal.
    RAGD_LOG_FORMAT: 'json',
    ...childDefaults(opts.compiled),
    ...envOverrides,
    RAGD_PORT: String(port),
    RAGD_DATA_DIR: dataDir,
  };
  // RAGD_SERVER_NODE_ARGS: extra node flags for the server only, e.g. "--cpu-prof --cpu-prof-dir=…" to
  // profile a bench. They come first, so a flag the start script also sets keeps the script's value.
  const nodeArgs = (process.env.RAGD_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const entry = opts.compiled ? startScriptArgs() : ['--import', 'tsx', 'src/cli/main.ts', 'serve'];
  const child = spawn(process.execPath, [...nodeArgs, ...entry], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      lines.push(line);
      if (lines.length > OUTPUT_LINES) lines.shift();
    }
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  let exited = child.exitCode !== null || child.signalCode !== null;
  const exit = new Promise<void>((r) => {
    child.once('exit', () => {
      exited = true;
      r();
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const output = () => lines.join('\n');

  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (exited) return;
    child.kill(signal);
    await exit;
  };
  const stop = async (graceMs = 20_000) => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exit;
    clearTimeout(timer);
  };

  try {
    await waitFor(
      async () => {
        if (exited) throw Object.assign(new Error(`ragd exited early (code ${child.exitCode}, signal ${child.signalCode})`), { fatal: true });
        const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
        await res.body?.cancel();
        return res.status === 200;
      },
      { timeoutMs: opts.readyTimeoutMs ?? 60_000, intervalMs: 100, what: `ragd on port ${port} to be ready` },
    );
  } catch (err) {
    await kill('SIGKILL');
    if (ownDir) await rm(dataDir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n--- ragd output ---\n${output()}`);
  }

  return {
    url,
    port,
    child,
    dataDir,
    output,
    kill,
    stop,
    async cleanup() {
      if (ownDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** `ragd <args…>` as a user runs it (a child process); its exit code and output, never throwing. */
export async function runRagd(args: string[], env: Env = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: REPO_ROOT,
      timeout: 60_000,
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers

export interface UploadedDoc {
  id: string;
  name: string;
  status: string;
  task_id: string;
  duplicate: boolean;
}

export interface DocView {
  id: string;
  name: string;
  type: string;
  status: string;
  stage: string | null;
  error: string | null;
  chunks: number;
  bytes: number;
  content_hash: string;
  task_id: string;
  created_at: string;
  updated_at: string;
}

/** A non-2xx answer, with its status and parsed body, so tests can assert on both. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    what: string,
  ) {
    super(`${what}: HTTP ${status} ${JSON.stringify(body)}`);
    this.name = 'HttpError';
  }
}

async function readJson(res: Response): Promise<unknown> {
  const text = await res.text();
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** fetch + JSON, throwing HttpError on a non-2xx status. */
export async function requestJson<T = unknown>(url: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(url, init);
  const body = await readJson(res);
  if (!res.ok) throw new HttpError(res.status, body, `${init.method ?? 'GET'} ${url}`);
  return body as T;
}

/** fetch + JSON, never throwing on status: for tests that assert error answers. */
export async function call(url: string, init: RequestInit = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, init);
  return { status: res.status, body: await readJson(res), headers: res.headers };
}

export async function uploadText(url: string, kb: string, name: string, text: string): Promise<UploadedDoc> {
  const body = await requestJson<{ documents: UploadedDoc[] }>(`${url}/v1/kbs/${kb}/documents`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, text }),
  });
  return body.documents[0]!;
}

/** A multipart request with the given files in the `file` field; the raw answer. */
export async function postFiles(
  url: string,
  kb: string,
  files: { name: string; bytes: Uint8Array | Blob; type?: string }[],
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  const form = new FormData();
  for (const f of files) {
    const blob = f.bytes instanceof Blob ? f.bytes : new Blob([f.bytes], { type: f.type ?? 'application/octet-stream' });
    form.append('file', blob, f.name);
  }
  return call(`${url}/v1/kbs/${kb}/documents`, { method: 'POST', body: form, headers });
}

/** Uploads one file as multipart; throws HttpError unless it is accepted (202). */
export async function uploadFile(url: string, kb: string, name: string, bytes: Uint8Array | Blob): Promise<UploadedDoc> {
  const res = await postFiles(url, kb, [{ name, bytes }]);
  if (res.status !== 202) throw new HttpError(res.status, res.body, `upload ${name}`);
  return (res.body as { documents: UploadedDoc[] }).documents[0]!;
}

/** Every document of a KB, following the listing's cursor. */
export async function listDocuments(url: string, kb: string, status?: string): Promise<DocView[]> {
  const all: DocView[] = [];
  let cursor: string | null = null;
  do {
    const q = new URLSearchParams({ limit: '1000' });
    if (status) q.set('status', status);
    if (cursor) q.set('cursor', cursor);
    const page: { documents: DocView[]; next_cursor: string | null } = await requestJson(`${url}/v1/kbs/${kb}/documents?${q}`);
    all.push(...page.documents);
    cursor = page.next_cursor;
  } while (cursor);
  return all;
}

const FINAL = new Set(['ready', 'failed']);

/** Waits until every listed document is ready or failed; returns their views in `ids` order. */
export async function waitSettled(url: string, kb: string, ids: readonly string[], opts: { timeoutMs?: number } = {}): Promise<DocView[]> {
  const wanted = new Set(ids);
  return waitFor(
    async () => {
      const docs = (await listDocuments(url, kb)).filter((d) => wanted.has(d.id));
      if (docs.length !== wanted.size || !docs.every((d) => FINAL.has(d.status))) return null;
      const byId = new Map(docs.map((d) => [d.id, d]));
      return ids.map((id) => byId.get(id)!);
    },
    { timeoutMs: opts.timeoutMs ?? 60_000, intervalMs: 150, what: `${ids.length} document(s) to settle` },
  );
}

/** Waits until every listed document is ready; throws with the errors if any failed instead. */
export async function waitReady(url: string, kb: string, ids: readonly string[], opts: { timeoutMs?: number } = {}): Promise<DocView[]> {
  const docs = await waitSettled(url, kb, ids, opts);
  const failed = docs.filter((d) => d.status !== 'ready');
  if (failed.length > 0) {
    throw new Error(`${failed.length} document(s) failed: ${failed.map((d) => `${d.name}: ${d.error}`).join('; ')}`);
  }
  return docs;
}

// ---------------------------------------------------------------------------------------------
// Server-Sent Events

export interface SseEvent {
  event: string;
  id: string | null;
  data: string;
}

/**
 * Reads an event stream until it ends (or `signal` aborts), yielding each event. A minimal
 * parser of the text/event-stream format: enough for ragd's one-line `data:` events.
 */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = 'message';
  let id: string | null = null;
  let data: string[] = [];
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffer.search(/\r?\n/)) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + (buffer[nl] === '\r' ? 2 : 1));
      if (line === '') {
        if (data.length > 0) yield { event, id, data: data.join('\n') };
        event = 'message';
        id = null;
        data = [];
      } else if (!line.startsWith(':')) {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'id') id = value;
        else if (field === 'data') data.push(value);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Synthetic corpus (deterministic), for the crash test and the ingest benchmark

/** mulberry32: a tiny seeded PRNG, so a corpus is the same on every run and machine. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Common words first: the picker below favours the front of the list (a rough Zipf shape), so
// the text has the skewed word frequencies BM25 and the chunker see in real prose.
const WORDS = (
  'the of and to in a is that for it as was with be by on not he this are or his from at which but have an they ' +
  'you were their one all we can her has there been if more when will would who so no time people year way day ' +
  'system data model process service request response server client network storage memory cache query index ' +
  'document section report policy customer account payment invoice order product market price growth revenue ' +
  'energy solar panel battery inverter voltage current power grid station turbine wind water pressure valve pump ' +
  'patient clinical trial dose protein cell gene expression receptor tissue blood therapy outcome cohort study ' +
  'river mountain forest valley coast island harbour bridge tunnel road railway airport village city county ' +
  'history century empire treaty council parliament election court judge law article clause contract liability ' +
  'engine fuel brake wheel gear sensor controller firmware signal antenna frequency bandwidth latency throughput ' +
  'student teacher school course lecture exam grade library research paper journal author editor review method ' +
  'recipe flour butter sugar oven bake salt pepper garlic onion tomato sauce kitchen dinner breakfast lunch ' +
  'quickly slowly carefully rarely often usually always never almost nearly clearly simply directly mostly ' +
  'large small early late high low new old important different possible available common specific similar ' +
  'describe measure improve reduce increase compare analyse explain require provide support consider include ' +
  'between through during without against within across under after before above below around along toward'
).split(' ');

function pickWord(rand: () => number): string {
  return WORDS[Math.floor(WORDS.length * rand() ** 2.2)]!;
}

function sentence(rand: () => number): string {
  const n = 6 + Math.floor(rand() * 15);
  const words: string[] = [];
  for (let i = 0; i < n; i++) words.push(pickWord(rand));
  if (n > 10 && rand() < 0.4) words[Math.floor(n / 2)] += ',';
  const s = words.join(' ');
  return `${s[0]!.toUpperCase()}${s.slice(1)}.`;
}

function paragraph(rand: () => number): string {
  const n = 3 + Math.floor(rand() * 6);
  return Array.from({ length: n }, () => sentence(rand)).join(' ');
}

function title(rand: () => number): string {
  const n = 2 + Math.floor(rand() * 4);
  return Array.from({ length: n }, () => pickWord(rand))
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join(' ');
}

export type SyntheticKind = 'txt' | 'md' | 'html';

export interface SyntheticDoc {
  name: string;
  kind: SyntheticKind;
  text: string;
}

/**
 * One document of about `targetBytes` (UTF-8; the text is ASCII). `index` goes into the title so
 * no two documents of a corpus have the same content (ragd deduplicates by content hash).
 */
export function syntheticDocument(rand: () => number, index: number, kind: SyntheticKind, targetBytes: number): SyntheticDoc {
  const heading = `Document ${index}: ${title(rand)}`;
  const parts: string[] = [];
  let size = 0;
  const push = (s: string) => {
    parts.push(s);
    size += s.length + 1;
  };
  if (kind === 'txt') {
    push(heading);
    push('');
    while (size < targetBytes) {
      push(paragraph(rand));
      push('');
    }
  } else if (kind === 'md') {
    push(`# ${heading}`);
    push('');
    while (size < targetBytes) {
      push(`${rand() < 0.25 ? '###' : '##'} ${title(rand)}`);
      push('');
      const paras = 1 + Math.floor(rand() * 4);
      for (let i = 0; i < paras && size < targetBytes; i++) {
        push(paragraph(rand));
        push('');
      }
      if (rand() < 0.3) {
        for (let i = 0; i < 3; i++) push(`- ${sentence(rand)}`);
        push('');
      }
      if (rand() < 0.1) {
        push('```');
        push(`run --${pickWord(rand)} ${pickWord(rand)}`);
        push('```');
        push('');
      }
    }
  } else {
    push('<!DOCTYPE html>');
    push(`<html><head><title>${heading}</title>`);
    push(`<style>body { font-family: sans-serif; } .c${index} { color: #${(index * 2654435761 >>> 8).toString(16).slice(0, 6).padEnd(6, '0')}; }</style>`);
    push(`<script>window.analytics = { page: ${index}, tag: "${pickWord(rand)}" };</script>`);
    push('</head><body>');
    push(`<h1>${heading}</h1>`);
    while (size < targetBytes) {
      push(`<h2>${title(rand)}</h2>`);
      const paras = 1 + Math.floor(rand() * 4);
      for (let i = 0; i < paras && size < targetBytes; i++) push(`<p>${paragraph(rand)}</p>`);
      if (rand() < 0.3) push(`<ul>${Array.from({ length: 3 }, () => `<li>${sentence(rand)}</li>`).join('')}</ul>`);
    }
    push('</body></html>');
  }
  return { name: `doc-${String(index).padStart(5, '0')}.${kind}`, kind, text: parts.join('\n') };
}

const KINDS: readonly SyntheticKind[] = ['txt', 'md', 'md', 'html', 'txt', 'html', 'md', 'txt'];

/**
 * A deterministic corpus: documents with sizes log-uniform in [minBytes, maxBytes], kinds
 * mixed, until `count` documents or `totalBytes` bytes, whichever comes first.
 */
export function* syntheticCorpus(opts: {
  seed: number;
  count?: number;
  totalBytes?: number;
  minBytes: number;
  maxBytes: number;
}): Generator<SyntheticDoc> {
  const rand = prng(opts.seed);
  const count = opts.count ?? Number.POSITIVE_INFINITY;
  const total = opts.totalBytes ?? Number.POSITIVE_INFINITY;
  const [lo, hi] = [Math.log(opts.minBytes), Math.log(opts.maxBytes)];
  let bytes = 0;
  for (let i = 0; i < count && bytes < total; i++) {
    const target = Math.round(Math.exp(lo + rand() * (hi - lo)));
    const doc = syntheticDocument(rand, i, KINDS[i % KINDS.length]!, Math.max(opts.minBytes, Math.min(target, total - bytes)));
    bytes += Buffer.byteLength(doc.text);
    yield doc;
  }
}

// ---------------------------------------------------------------------------------------------
// Assertions shared by the limit and hostile-input tests

/** Every file under `dir` (full paths); none if it does not exist. */
export async function filesUnder(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath ?? e.path, e.name));
}

/** A refusal in the API's shape: `status`, `{error:{code,message}}` with a readable message, no stack trace. */
export function assertApiError(res: { status: number; body: any }, status: number, code?: string | RegExp): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(typeof res.body?.error?.code, 'string', 'error body has a code');
  if (code !== undefined) assert.match(res.body.error.code, code instanceof RegExp ? code : new RegExp(`^${code}$`));
  assert.ok(String(res.body.error.message).length > 5, 'the message says what is wrong');
  assert.doesNotMatch(String(res.body.error.message), /\n\s+at /, 'no stack trace');
}
