import type { Citation, QueryResult, RerankInfo } from '../../services/query/types.js';

/**
 * The JSON body of an answer, written with the native JSON.stringify rather than the route's
 * schema serializer. Nearly all its bytes are chunk text, full of quotes and newlines, which the
 * schema serializer escapes in JavaScript a character at a time, through many intermediate
 * strings. A fresh answer is one JSON.stringify call; in a heap profile at 100 questions/s the
 * event loop allocated ~7 % less per question.
 *
 * On every hit of an answer-cache entry, the answer and its citations are the same frozen
 * objects (AnswerCache freezes what it stores), so their JSON is made once per entry; only the
 * live fields — pending count, notice, timings — are written per request. Serializing ~6 KB of
 * citations on every hit was about a tenth of a cached answer's CPU.
 *
 * Fields, their order and their allowed keys are those of QueryResponse (the route's response
 * schema, and so the OpenAPI document): clients cannot tell this body from the serializer's.
 */

const CITATION_FIELDS: (keyof Citation)[] = ['document_id', 'document_name', 'chunk_id', 'text', 'score', 'page'];
const RERANK_FIELDS: (keyof RerankInfo)[] = ['applied', 'fallback_reason'];
/**
 * Every key of a response at every depth, for JSON.stringify's allow-list, which also fixes the
 * order at each depth: top level answer … citations, pending_documents, cached, timings_ms,
 * notice, rerank; a citation's fields; timings retrieve, rerank, generate, total; rerank info.
 */
const RESPONSE_KEYS: string[] = [
  'answer', 'answer_kind', 'citations', ...CITATION_FIELDS, 'pending_documents', 'cached', 'timings_ms', 'notice',
  'retrieve', 'rerank', 'generate', 'total', ...RERANK_FIELDS,
];

/** The parts of an answer that are the same on every hit of its cache entry, and their JSON. */
interface FixedPart {
  answer: string | null;
  answerKind: QueryResult['answer_kind'];
  rerank: RerankInfo | undefined;
  /** `{"answer":…,"answer_kind":…,"citations":[…]` */
  leadingJson: string;
  /** `,"rerank":{…}`, or '' without rerank info. */
  rerankJson: string;
}

/** Weakly keyed by the entry's citations array: gone once the cache evicts the entry. */
const fixedParts = new WeakMap<readonly Citation[], FixedPart>();

function fixedPartOf(result: QueryResult): FixedPart {
  const known = fixedParts.get(result.citations);
  // The array identifies the entry; the other fixed fields are compared too, so a result that
  // merely shares the array (the miss that filled the entry) can never be given another's answer.
  if (known && known.answer === result.answer && known.answerKind === result.answer_kind && known.rerank === result.rerank) return known;
  const part: FixedPart = {
    answer: result.answer,
    answerKind: result.answer_kind,
    rerank: result.rerank,
    leadingJson: `{"answer":${JSON.stringify(result.answer)},"answer_kind":${JSON.stringify(result.answer_kind)},"citations":${JSON.stringify(result.citations, CITATION_FIELDS)}`,
    rerankJson: result.rerank ? `,"rerank":${JSON.stringify(result.rerank, RERANK_FIELDS)}` : '',
  };
  if (Object.isFrozen(result.citations)) fixedParts.set(result.citations, part);
  return part;
}

/** The response body of a (non-streamed) query result, cached or not. */
export function answerJson(result: QueryResult): string {
  if (!result.cached) return JSON.stringify(result, RESPONSE_KEYS);
  const fixed = fixedPartOf(result);
  const t = result.timings_ms;
  // The serializer's order (required fields, then optional ones). Numbers are written as
  // JSON.stringify would: they are finite counts and rounded milliseconds.
  return (
    `${fixed.leadingJson},"pending_documents":${result.pending_documents},"cached":true` +
    `,"timings_ms":{"retrieve":${t.retrieve},"rerank":${t.rerank},"generate":${t.generate},"total":${t.total}}` +
    (result.notice === undefined ? '' : `,"notice":${JSON.stringify(result.notice)}`) +
    `${fixed.rerankJson}}`
  );
}
