import type { ChatMessage } from '../../ports/models.js';
import type { Lang } from '../../text/language.js';
import type { SearchFilter } from '../../ports/store.js';

/** The vocabulary of the query path, shared by the service, the HTTP route, jobs and the CLI. */

export type SearchMode = 'lexical' | 'vector' | 'hybrid';
export const SEARCH_MODES: readonly SearchMode[] = ['lexical', 'vector', 'hybrid'];

export const MAX_QUERY_CHARS = 4000;
export const MAX_TOP_K = 50;
export const DEFAULT_TOP_K = 5;

export interface QueryRequest {
  query: string;
  mode: SearchMode;
  topK: number;
  /** Return the citations only: no answer is generated. */
  onlyContext: boolean;
  filter?: SearchFilter;
  /**
   * Earlier turns of a conversation, oldest first (user and assistant only). With an LLM
   * configured they rewrite a follow-up question into a standalone one before retrieval, and go
   * to the model with the sources; the extractive answerer has no use for them and ignores them.
   */
  history?: ChatMessage[];
  /** The language of notices and of the extractive label; default: the question's own. */
  lang?: Lang;
  /** Report each hit's place in every ranking (the console's retrieval lab); never cached. */
  explain?: boolean;
}

/** A rank (1-based) and the score that earned it, in one ranking. */
export interface RankedAt {
  rank: number;
  score: number;
}

/** Why a returned chunk is where it is: its place in each ranking the mode ran. Null = not in it. */
export interface ExplainedHit {
  chunk_id: string;
  lexical: RankedAt | null;
  vector: RankedAt | null;
  /** Hybrid only: its place after reciprocal rank fusion. */
  fused: RankedAt | null;
  /** When a reranker reordered the candidates: its place and score there. */
  rerank: RankedAt | null;
}

/** One retrieved chunk as the client sees it. Its position in `citations` is its number [n] - 1. */
export interface Citation {
  document_id: string;
  document_name: string;
  chunk_id: string;
  text: string;
  score: number;
  page: number | null;
  /** The OCR engine's confidence (0-1) when this text was read from a scan or image; absent otherwise. */
  ocr_confidence?: number;
}

export type AnswerKind = 'llm' | 'extractive';

export interface RerankInfo {
  applied: boolean;
  /** Why the fused order was kept although a reranker is configured (timeout, provider down …). */
  fallback_reason?: string;
}

export interface Timings {
  retrieve: number;
  rerank: number;
  generate: number;
  total: number;
}

export interface QueryResult {
  answer: string | null;
  answer_kind: AnswerKind | null;
  citations: Citation[];
  /** Documents of the KB still being ingested: they are not searchable yet. */
  pending_documents: number;
  notice?: string;
  cached: boolean;
  rerank?: RerankInfo;
  timings_ms: Timings;
  /** With `explain`: one entry per citation, in the same order. */
  explain?: ExplainedHit[];
}

/** What the context phase hands a streaming caller before any token is generated. */
export interface QueryContext {
  citations: Citation[];
  pending_documents: number;
  notice?: string;
  rerank?: RerankInfo;
  cached: boolean;
}

export interface QueryHooks {
  /** Aborting cancels retrieval waits and the upstream model call at once. */
  signal?: AbortSignal;
  /** Called once, after retrieval (and rerank), before generation starts. */
  onContext?: (ctx: QueryContext) => void;
  /** When given, the answer is streamed: each piece is passed here as it is produced. */
  onToken?: (text: string) => void;
  /** The HTTP request asking: named in the model providers' log lines for this query. */
  requestId?: string;
}
