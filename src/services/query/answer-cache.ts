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
}

/** What is cached: the answer and its sources. Pending counts and timings are always fresh. */
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

/** Same question, same key: Unicode-normalised, lower-cased, whitespace collapsed. */
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
  ]);
}

/** Rough bytes held by a cached answer (UTF-16 strings: 2 bytes per code unit). */
function sizeOf(a: CachedAnswer): number {
  let chars = (a.answer?.length ?? 0) + 64;
  for (const c of a.citations) chars += c.text.length + c.document_name.length + c.document_id.length + c.chunk_id.length + 48;
  return chars * 2;
}

export interface AnswerCacheOptions {
  maxEntries: number;
  maxBytes: number;
  ttlMs: number;
  now?: () => number;
}

export class AnswerCache {
  private readonly lru: LruCache<CachedAnswer>;

  constructor(opts: AnswerCacheOptions) {
    this.lru = new LruCache<CachedAnswer>({
      maxEntries: opts.maxEntries,
      maxSize: opts.maxBytes,
      ttlMs: opts.ttlMs,
      sizeOf,
      ...(opts.now ? { now: opts.now } : {}),
    });
  }

  get(key: string): CachedAnswer | undefined {
    return this.lru.get(key);
  }

  /**
   * Stores the answer frozen, without copying it: every hit shares these objects (and the HTTP layer keeps
   * their JSON by identity), so nothing may change them once cached.
   */
  set(key: string, value: CachedAnswer): void {
    for (const c of value.citations) Object.freeze(c);
    Object.freeze(value.citations);
    if (value.rerank) Object.freeze(value.rerank);
    this.lru.set(key, Object.freeze(value));
  }

  stats(): CacheStats {
    return this.lru.stats();
  }
}
