import { CITATION_FIELDS } from '../../services/query/answer-cache.js';
import { type PackedQueryResult, PACKED } from '../../services/query/cached-result.js';
import type { QueryResult, RerankInfo } from '../../services/query/types.js';

/**
 * The JSON body of an answer, written with the native JSON.stringify rather than the route's
 * schema serializer. Nearly all its bytes are chunk text, full of quotes and newlines, which the
 * schema serializer escapes in JavaScript a character at a time, through many intermediate
 * strings. A fresh answer is one JSON.stringify call; in a heap profile at 100 questions/s the
 * event loop allocated ~7 % less per question.
 *
 * An answer in the cache is sent as bytes, a hit's and a fresh one's alike: the entry holds the
 * start of the body as UTF-8 (see PackedAnswer), so only the live fields — pending count,
 * notice, timings — are written per request, and the citations are serialized once, for the
 * cache, not a second time for the response.
 *
 * Fields, their order and their allowed keys are those of QueryResponse (the route's response
 * schema, and so the OpenAPI document): clients cannot tell this body from the serializer's.
 */

const RERANK_FIELDS: (keyof RerankInfo)[] = ['applied', 'fallback_reason'];
/**
 * Every key of a response at every depth, for JSON.stringify's allow-list, which also fixes the
 * order at each depth: top level answer … citations, pending_documents, cached, timings_ms,
 * notice, rerank; a citation's fields; timings retrieve, rerank, generate, total; rerank info.
 */
const RESPONSE_KEYS: string[] = [
  'answer', 'answer_kind', 'citations', ...CITATION_FIELDS, 'pending_documents', 'cached', 'timings_ms', 'notice',
  'retrieve', 'rerank', 'generate', 'total', ...RERANK_FIELDS,
  // explain: chunk_id (a citation field) and, per ranking, rank and score.
  'explain', 'lexical', 'vector', 'fused', 'rank',
];

const sameRerank = (a: RerankInfo | undefined, b: RerankInfo | undefined) =>
  a === b || (a !== undefined && b !== undefined && a.applied === b.applied && a.fallback_reason === b.fallback_reason);

/**
 * The packed entry of the result's answer (a hit's, or a fresh answer's as it was cached), if the
 * result still shows that entry's answer: a result copied and then given another answer (or
 * rerank info) is written from its own fields.
 */
function packedOf(result: QueryResult) {
  const packed = (result as Partial<PackedQueryResult>)[PACKED];
  if (!packed) return undefined;
  return packed.answer === result.answer && packed.answer_kind === result.answer_kind && sameRerank(packed.rerank, result.rerank) ? packed : undefined;
}

/** The response body of a (non-streamed) query result, cached or not. */
export function answerJson(result: QueryResult): string | Buffer {
  const packed = packedOf(result);
  if (!packed) return JSON.stringify(result, RESPONSE_KEYS);
  const t = result.timings_ms;
  // The serializer's order (required fields, then optional ones). Numbers are written as
  // JSON.stringify would: they are finite counts and rounded milliseconds.
  const tail =
    `,"pending_documents":${result.pending_documents},"cached":${result.cached}` +
    `,"timings_ms":{"retrieve":${t.retrieve},"rerank":${t.rerank},"generate":${t.generate},"total":${t.total}}` +
    (result.notice === undefined ? '' : `,"notice":${JSON.stringify(result.notice)}`) +
    (packed.rerank ? `,"rerank":${JSON.stringify(packed.rerank, RERANK_FIELDS)}` : '') +
    '}';
  return Buffer.concat([packed.head, Buffer.from(tail)]);
}
