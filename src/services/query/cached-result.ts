import { citationsOf, type PackedAnswer } from './answer-cache.js';
import type { Citation, QueryResult } from './types.js';

/**
 * A result keeps the packed cache entry of its answer under this key, the entry it was served
 * from or the one it was just stored as, so the HTTP layer sends the entry's bytes instead of
 * serialising the citations again. JSON.stringify and structured clone both skip symbol keys:
 * the entry never leaks into a response or a stored job result.
 */
export const PACKED = Symbol('ragd.packedAnswer');

export type PackedQueryResult = QueryResult & { readonly [PACKED]: PackedAnswer };

/** A fresh result with the entry it was cached as (none when it was not cached). */
export function withPacked(result: QueryResult, packed: PackedAnswer | undefined): QueryResult {
  return packed ? Object.assign(result, { [PACKED]: packed }) : result;
}

/** The per-request fields of a cached answer. */
export type LiveFields = Pick<QueryResult, 'pending_documents' | 'notice' | 'timings_ms'>;

/**
 * The result of a cache hit. Its citations are decoded from the entry's bytes only if something
 * reads them (a streamed answer, a query job), once per result; a plain JSON answer never does.
 */
export function cachedResult(packed: PackedAnswer, live: LiveFields): PackedQueryResult {
  let citations: Citation[] | undefined;
  return {
    answer: packed.answer,
    answer_kind: packed.answer_kind,
    get citations(): Citation[] {
      return (citations ??= citationsOf(packed));
    },
    ...(packed.rerank ? { rerank: packed.rerank } : {}),
    pending_documents: live.pending_documents,
    ...(live.notice !== undefined ? { notice: live.notice } : {}),
    cached: true,
    timings_ms: live.timings_ms,
    [PACKED]: packed,
  };
}
