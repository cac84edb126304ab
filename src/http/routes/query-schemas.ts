import { type Static, Type } from '@sinclair/typebox';
import { DEFAULT_TOP_K, MAX_TOP_K, SEARCH_MODES } from '../../services/query/types.js';

/**
 * Schemas of POST /v1/kbs/{kb}/query and /retrieve. The query's length limit is checked in the
 * handler, not here, so that it gets its own error code (query_too_long).
 */

/** The same rule search-ops applies to metadata keys; checked here so a bad key is a 400. */
const METADATA_KEY_PATTERN = '^[A-Za-z0-9_.-]{1,64}$';

// The value's type is checked in the handler (checkMetadataValues): with type coercion on, an
// Ajv union would turn `true` into "true" or "5" into 5, and the filter would silently stop
// matching the stored value.
const MetadataValue = Type.Unsafe<string | number | boolean>({});

export const QueryFilter = Type.Object(
  {
    document_ids: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 1000 })),
    metadata: Type.Optional(
      Type.Object({}, { patternProperties: { [METADATA_KEY_PATTERN]: MetadataValue }, additionalProperties: false, maxProperties: 32 }),
    ),
  },
  { additionalProperties: false },
);

const queryFields = {
  query: Type.String({ minLength: 1 }),
  mode: Type.Optional(Type.Unsafe<(typeof SEARCH_MODES)[number]>({ type: 'string', enum: [...SEARCH_MODES], default: 'hybrid' })),
  top_k: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TOP_K, default: DEFAULT_TOP_K })),
  only_context: Type.Optional(Type.Boolean({ default: false })),
  filter: Type.Optional(QueryFilter),
  explain: Type.Optional(Type.Boolean({ description: "add each hit's rank and score in every ranking (lexical, vector, fused, rerank); never cached" })),
};

export const QueryBody = Type.Object({ ...queryFields, stream: Type.Optional(Type.Boolean({ default: false })) }, { additionalProperties: false });
export type QueryBody = Static<typeof QueryBody> & { filter?: { metadata?: Record<string, string | number | boolean> } };

export const RetrieveBody = Type.Object(queryFields, { additionalProperties: false });
export type RetrieveBody = Static<typeof RetrieveBody> & { filter?: { metadata?: Record<string, string | number | boolean> } };

export const Citation = Type.Object({
  document_id: Type.String(),
  document_name: Type.String(),
  chunk_id: Type.String(),
  text: Type.String(),
  score: Type.Number(),
  page: Type.Union([Type.Integer(), Type.Null()]),
  ocr_confidence: Type.Optional(Type.Number({ description: "the OCR engine's confidence (0-1), when the text was read from a scan or image" })),
});

const Rerank = Type.Object({ applied: Type.Boolean(), fallback_reason: Type.Optional(Type.String()) });

const RankedAt = Type.Union([Type.Object({ rank: Type.Integer(), score: Type.Number() }), Type.Null()]);
const Explained = Type.Object({ chunk_id: Type.String(), lexical: RankedAt, vector: RankedAt, fused: RankedAt, rerank: RankedAt });

export const Timings = Type.Object({
  retrieve: Type.Number(),
  rerank: Type.Number(),
  generate: Type.Number(),
  total: Type.Number(),
});

export const QueryResponse = Type.Object({
  answer: Type.Union([Type.String(), Type.Null()]),
  answer_kind: Type.Union([Type.Literal('llm'), Type.Literal('extractive'), Type.Null()]),
  citations: Type.Array(Citation),
  pending_documents: Type.Integer(),
  notice: Type.Optional(Type.String()),
  cached: Type.Boolean(),
  rerank: Type.Optional(Rerank),
  timings_ms: Timings,
  explain: Type.Optional(Type.Array(Explained)),
});

export const RetrieveAccepted = Type.Object({ task_id: Type.String() }, { description: 'accepted: follow the task for the result' });
