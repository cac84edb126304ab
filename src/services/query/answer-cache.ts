import type { SearchFilter } from '../../ports/store.js';
import { type CacheStats, LruCache } from './lru.js';
import type { AnswerKind, Citation, RerankInfo, SearchMode } from './types.js';

/**
 * The in-process answer cache. Correctness lives in the key: it names everything that changes
 * the answer, including the KB's content version (bumped by every upload that reaches ready and
 * every delete) and its creation time (a KB deleted and re-created restarts at version 0), so a
 * stale or foreign answer has a different key and can never be served.
 */

export interface AnswerKeyParts {
  tenantId: string;
  kbId: string;
  kbVersion: number;
  kbCreatedAt: string;
  embedder: string;
  query: string;
  mode: SearchMode;
  topK: number;
  onlyContext: boolean;
  filter?: SearchFilter;
  /** e.g. 'llm:gpt-4o-mini' or 'extractive'. */
  answerer: string;
  /** The reranker's identity, or null when none is configured. */
  reranker: string | null;
  /** The conversation before the question, when the answerer reads it (see historyKey). */
  history?: string;
  /** The language of the answer's label and notices ('en' when absent): a Chinese label is not served to an English client. */
  lang?: string;
}

/** What is cached (packed, see PackedAnswer): the answer and its sources. Pending counts and timings are always fresh. */
export interface CachedAnswer {
  answer: string | null;
  answer_kind: AnswerKind | null;
  citations: Citation[];
  rerank?: RerankInfo;
  /** A notice about how the results were produced (not about pending documents). */
  retrievalNotice?: string;
}

/**
 * Printable ASCII words separated by single spaces: text NFKC leaves as it is (every ASCII
 * character is its own normal form), with no whitespace left to collapse or trim.
 */
const PLAIN_QUERY = /^[!-~]+(?: [!-~]+)*$/;

/**
 * Same question, same key: Unicode-normalised (NFKC: full-width ？ＡＢＣ and half-width ?ABC are
 * one question), lower-cased, whitespace collapsed.
 */
export function normalizeQuery(q: string): string {
  // Most questions are plain: lower-casing is all they need (the same result, for less work).
  if (PLAIN_QUERY.test(q)) return q.toLowerCase();
  return q.normalize('NFKC').toLowerCase().replace(/\s+/gu, ' ').trim();
}

/** The filter in one canonical form, so `{a, b}` and `{b, a}` share a key. */
function canonicalFilter(f: SearchFilter | undefined): unknown {
  if (!f) return null;
  const ids = f.documentIds && f.documentIds.length > 0 ? [...new Set(f.documentIds)].sort() : null;
  const meta = f.metadata ? Object.keys(f.metadata).sort().map((k) => [k, f.metadata![k]]) : [];
  return ids === null && meta.length === 0 ? null : { ids, meta };
}

/** The earlier turns in one canonical form: each message normalised as a question is. */
export function historyKey(history: readonly { role: string; content: string }[]): string {
  return JSON.stringify(history.map((m) => [m.role, normalizeQuery(m.content)]));
}

/**
 * The key is the canonical JSON of its parts itself, not a digest of it: exact (no collision can
 * cross tenants), and cheaper than hashing on a path that runs for every cached answer.
 */
export function answerKey(p: AnswerKeyParts): string {
  return JSON.stringify([
    p.tenantId,
    p.kbId,
    p.kbVersion,
    p.kbCreatedAt,
    p.embedder,
    normalizeQuery(p.query),
    p.mode,
    p.topK,
    p.onlyContext,
    canonicalFilter(p.filter),
    p.answerer,
    p.reranker,
    p.history ?? null,
    p.lang ?? 'en',
  ]);
}

/** A citation's keys in the response's order (QueryResponse): the packed head and the HTTP body share it. */
export const CITATION_FIELDS: (keyof Citation)[] = ['document_id', 'document_name', 'chunk_id', 'text', 'score', 'page', 'ocr_confidence'];

/**
 * A cached answer as the cache holds it: the citations (nearly all of its bytes) as the UTF-8
 * JSON that starts every hit's response body, `{"answer":…,"answer_kind":…,"citations":[…]`.
 *
 * Why bytes: a full cache holds thousands of answers. As objects (an array, a record and several
 * strings per citation) they were the largest part of the event loop's heap: every major GC had
 * to mark them, and under unique questions every new entry was copied twice by the young
 * generation's scavenges before reaching the old one. A Buffer's bytes live outside the JS heap,
 * so an entry is a handful of small objects, whatever its size; and a hit is sent as these bytes
 * with no serialising or re-encoding. Callers that need the citations as objects (a streamed
 * answer, a query job) decode them with citationsOf().
 */
export interface PackedAnswer {
  readonly answer: string | null;
  readonly answer_kind: AnswerKind | null;
  readonly rerank?: RerankInfo;
  readonly retrievalNotice?: string;
  /** `{"answer":…,"answer_kind":…,"citations":[…]` in the response's key order, UTF-8. */
  readonly head: Buffer;
}

/** Packs an answer for the cache (see PackedAnswer). Keys and their order are the response's. */
export function packAnswer(a: CachedAnswer): PackedAnswer {
  const head = Buffer.from(
    `{"answer":${JSON.stringify(a.answer)},"answer_kind":${JSON.stringify(a.answer_kind)},"citations":${JSON.stringify(a.citations, CITATION_FIELDS)}`,
  );
  return Object.freeze({
    answer: a.answer,
    answer_kind: a.answer_kind,
    head,
    ...(a.rerank ? { rerank: Object.freeze({ ...a.rerank }) } : {}),
    ...(a.retrievalNotice !== undefined ? { retrievalNotice: a.retrievalNotice } : {}),
  });
}

/** The citations of a packed answer, as new objects (each call decodes the bytes again). */
export function citationsOf(p: PackedAnswer): Citation[] {
  return (JSON.parse(`${p.head.toString('utf8')}}`) as { citations: Citation[] }).citations;
}

/** Bytes held by a packed answer: its buffer, plus a rough allowance for the rest. */
function sizeOf(p: PackedAnswer): number {
  return p.head.length + 2 * ((p.retrievalNotice?.length ?? 0) + (p.answer?.length ?? 0)) + 256;
}

export interface AnswerCacheOptions {
  maxEntries: number;
  maxBytes: number;
  ttlMs: number;
  now?: () => number;
}

export class AnswerCache {
  private readonly lru: LruCache<PackedAnswer>;

  constructor(opts: AnswerCacheOptions) {
    this.lru = new LruCache<PackedAnswer>({
      maxEntries: opts.maxEntries,
      maxSize: opts.maxBytes,
      ttlMs: opts.ttlMs,
      sizeOf,
      ...(opts.now ? { now: opts.now } : {}),
    });
  }

  get(key: string): PackedAnswer | undefined {
    return this.lru.get(key);
  }

  /** Stores a copy, packed (the caller's objects stay its own), and returns it. */
  set(key: string, value: CachedAnswer): PackedAnswer {
    const packed = packAnswer(value);
    this.lru.set(key, packed);
    return packed;
  }

  stats(): CacheStats {
    return this.lru.stats();
  }
}
