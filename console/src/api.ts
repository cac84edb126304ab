/**
 * The console's only way to the server: the public /v1 API, same origin. The credential (a tenant
 * API key or the admin key) lives in sessionStorage: gone when the browser session ends, never in
 * a cookie, so no other site can make the browser use it.
 */

const CREDENTIAL = 'ragd.credential';

export function credential(): string | null {
  return sessionStorage.getItem(CREDENTIAL);
}

export function setCredential(key: string | null): void {
  if (key) sessionStorage.setItem(CREDENTIAL, key);
  else sessionStorage.removeItem(CREDENTIAL);
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const key = credential();
  return key ? { ...extra, authorization: `Bearer ${key}` } : extra;
}

async function failure(res: Response): Promise<ApiError> {
  const body = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
  return new ApiError(res.status, body?.error?.code ?? `http_${res.status}`, body?.error?.message ?? res.statusText);
}

/** A JSON call; 204 answers undefined. Throws ApiError (code `network` when the server is unreachable). */
export async function api<T>(path: string, init: { method?: string; body?: unknown; signal?: AbortSignal } = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method: init.method ?? 'GET',
      headers: headers(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      ...(init.signal ? { signal: init.signal } : {}),
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'network', String(err));
  }
  if (!res.ok) throw await failure(res);
  return (res.status === 204 ? undefined : await res.json()) as T;
}

/**
 * A document's original file, fetched with our credential (a plain link could not send it); the
 * caller shows it from a blob: URL.
 */
export async function documentFile(kb: string, id: string): Promise<Blob> {
  const res = await fetch(`/v1/kbs/${encodeURIComponent(kb)}/documents/${encodeURIComponent(id)}/file`, { headers: headers() });
  if (!res.ok) throw await failure(res);
  return res.blob();
}

/** Multipart upload of many files (each sent with its folder path as its name). */
export async function upload(kb: string, files: { file: File; name: string }[]): Promise<{ documents: UploadedDocument[] }> {
  const form = new FormData();
  for (const f of files) form.append('file', f.file, f.name);
  const res = await fetch(`/v1/kbs/${encodeURIComponent(kb)}/documents`, { method: 'POST', headers: headers(), body: form });
  if (!res.ok) throw await failure(res);
  return (await res.json()) as { documents: UploadedDocument[] };
}

/** A streamed POST (SSE over fetch): the response, for readSse(). */
export async function stream(path: string, body: unknown, signal: AbortSignal): Promise<Response> {
  const res = await fetch(path, {
    method: 'POST',
    headers: headers({ 'content-type': 'application/json', accept: 'text/event-stream' }),
    body: JSON.stringify(body),
    signal,
  });
  if (!res.ok) throw await failure(res);
  return res;
}

/**
 * The URL of an event stream for the browser (WebSocket/EventSource cannot send headers): a
 * single-use ticket minted with our credential rides in the query string.
 */
export async function streamUrl(path: string, protocol: 'ws' | 'http'): Promise<string> {
  const { ticket } = await api<{ ticket: string }>('/v1/stream-tickets', { method: 'POST' });
  const scheme = protocol === 'ws' ? (location.protocol === 'https:' ? 'wss:' : 'ws:') : location.protocol;
  return `${scheme}//${location.host}${path}?ticket=${encodeURIComponent(ticket)}`;
}

export interface UploadedDocument {
  id: string;
  name: string;
  status: string;
  task_id: string;
  duplicate: boolean;
}

export interface Kb {
  id: string;
  name: string;
  embedder: string;
  embed_dim: number;
  version: number;
  created_at: string;
}

export interface Citation {
  document_id: string;
  document_name: string;
  chunk_id: string;
  text: string;
  score: number;
  page: number | null;
}

export interface RankedAt {
  rank: number;
  score: number;
}

export interface Explained {
  chunk_id: string;
  lexical: RankedAt | null;
  vector: RankedAt | null;
  fused: RankedAt | null;
  rerank: RankedAt | null;
}

export interface QueryResult {
  answer: string | null;
  answer_kind: 'llm' | 'extractive' | null;
  citations: Citation[];
  pending_documents: number;
  notice?: string;
  cached: boolean;
  timings_ms: { retrieve: number; rerank: number; generate: number; total: number };
  explain?: Explained[];
}

export interface Chunk {
  id: string;
  ordinal: number;
  text: string;
  heading_path: string[];
  page: number | null;
  token_count: number;
}
