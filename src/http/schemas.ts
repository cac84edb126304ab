import { Type, type Static, type TSchema, type TUnsafe } from '@sinclair/typebox';
import { OCR_MODES, STAGES, SUPPORTED_TYPES } from '../domain/types.js';

/**
 * The JSON Schemas of the v1 HTTP surface (PRODUCT.md). Request schemas validate input with
 * `additionalProperties: false` so that a misspelt field is a 400, not silently ignored.
 * Response schemas double as an allow-list: fast-json-stringify only writes the declared
 * properties, so internal fields a service might leave on a record (tenantId, blobKey …)
 * can never reach a client.
 */

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/**
 * A string enum as a plain JSON Schema `enum` (TypeBox's literal unions compile to `anyOf`,
 * whose Ajv errors are unreadable: "must be equal to constant" once per branch).
 */
const StringEnum = <const T extends readonly string[]>(values: T): TUnsafe<T[number]> =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values] });

// ---------------------------------------------------------------------------------------------
// Identifiers

export const KB_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$';
export const RESOURCE_ID_PATTERN = '^[A-Za-z0-9_-]{8,64}$';

export const KbId = Type.String({ pattern: KB_ID_PATTERN, description: 'knowledge base id' });
export const ResourceId = Type.String({ pattern: RESOURCE_ID_PATTERN });

export const KbParams = Type.Object({ kb: KbId }, { additionalProperties: false });
export type KbParams = Static<typeof KbParams>;

export const DocumentParams = Type.Object({ kb: KbId, id: ResourceId }, { additionalProperties: false });
export type DocumentParams = Static<typeof DocumentParams>;

export const TaskParams = Type.Object({ id: ResourceId }, { additionalProperties: false });
export type TaskParams = Static<typeof TaskParams>;

// ---------------------------------------------------------------------------------------------
// Vocabulary (mirrors src/domain/types.ts)

export const DocumentStatusSchema = StringEnum(['queued', 'parsing', 'recognizing', 'chunking', 'embedding', 'indexing', 'ready', 'failed'] as const);

export const TaskStatusSchema = StringEnum(['queued', 'running', 'succeeded', 'failed'] as const);

export const StageSchema = StringEnum(STAGES);

export const DocTypeSchema = StringEnum(SUPPORTED_TYPES);

const Progress = Type.Object({ done: Type.Integer(), total: Type.Integer() });

/** auto (default): OCR images and PDF pages without a text layer; force: OCR every page; off: never. */
export const OcrModeSchema = StringEnum(OCR_MODES);

const DocumentOcrSchema = Type.Object({
  mode: OcrModeSchema,
  engine: Type.Optional(Type.String({ description: 'the engine that read the OCR\'d pages' })),
  pages: Type.Optional(Type.Array(Type.Integer(), { description: '1-based pages whose text came from OCR' })),
});

/** Free-form user metadata: any JSON object. */
export const Metadata = Type.Object({}, { additionalProperties: true });

// ---------------------------------------------------------------------------------------------
// Views

export const DocumentViewSchema = Type.Object({
  id: Type.String(),
  kb: Type.String(),
  name: Type.String(),
  type: DocTypeSchema,
  status: DocumentStatusSchema,
  stage: Nullable(StageSchema),
  progress: Progress,
  error: Nullable(Type.String()),
  chunks: Type.Integer(),
  bytes: Type.Integer(),
  content_hash: Type.String(),
  metadata: Metadata,
  ocr: DocumentOcrSchema,
  task_id: Type.String(),
  created_at: Type.String(),
  updated_at: Type.String(),
}, { description: 'a document and where it is in the pipeline' });

export const TaskViewSchema = Type.Object({
  id: Type.String(),
  kind: StringEnum(['ingest', 'retrieve'] as const),
  kb: Type.String(),
  status: TaskStatusSchema,
  stage: Nullable(StageSchema),
  progress: Progress,
  error: Nullable(Type.String()),
  document_id: Nullable(Type.String()),
  result: Type.Unknown(),
  created_at: Type.String(),
  updated_at: Type.String(),
  version: Type.Integer(),
}, { description: 'a task: ingestion of one document, or a query job' });

export const KbViewSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  embedder: Type.String(),
  embed_dim: Type.Integer(),
  ocr: OcrModeSchema,
  version: Type.Integer(),
  created_at: Type.String(),
}, { description: 'a knowledge base' });
export type KbView = Static<typeof KbViewSchema>;

export const UploadedDocumentSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  status: DocumentStatusSchema,
  task_id: Type.String(),
  duplicate: Type.Boolean(),
});
export type UploadedDocumentView = Static<typeof UploadedDocumentSchema>;

// ---------------------------------------------------------------------------------------------
// Requests

export const CreateKbBody = Type.Object(
  {
    id: KbId,
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    ocr: Type.Optional(OcrModeSchema),
  },
  { additionalProperties: false },
);
export type CreateKbBody = Static<typeof CreateKbBody>;

export const UploadTextBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 512 }),
    text: Type.String({ minLength: 1 }),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
);
export type UploadTextBody = Static<typeof UploadTextBody>;

/** The body of an action that needs none: absent, or an empty JSON object (checked only when JSON is sent). */
export const NoBody = {
  content: { 'application/json': { schema: Type.Object({}, { additionalProperties: false, description: 'none needed (send no body, or {})' }) } },
};

export const DEFAULT_LIST_LIMIT = 100;

export const ListDocumentsQuery = Type.Object(
  {
    status: Type.Optional(DocumentStatusSchema),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: DEFAULT_LIST_LIMIT })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  },
  { additionalProperties: false },
);
// Ajv's `useDefaults` fills `limit` in; handlers still fall back to DEFAULT_LIST_LIMIT.
export type ListDocumentsQuery = Static<typeof ListDocumentsQuery>;

// ---------------------------------------------------------------------------------------------
// Responses

export const ErrorBody = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    /** Only on a multipart upload that failed part-way: the files accepted before the failure. */
    accepted: Type.Optional(Type.Array(UploadedDocumentSchema)),
  }),
});
export type ErrorBody = Static<typeof ErrorBody>;

export const UploadResponse = Type.Object({ documents: Type.Array(UploadedDocumentSchema) }, { description: 'accepted: the documents are queued for the pipeline' });
export const DocumentListResponse = Type.Object({
  documents: Type.Array(DocumentViewSchema),
  next_cursor: Nullable(Type.String()),
}, { description: 'a page of documents; pass next_cursor as cursor for the next' });
export const KbListResponse = Type.Object({ kbs: Type.Array(KbViewSchema) }, { description: 'the knowledge bases' });

// ---------------------------------------------------------------------------------------------
// Shared response entries (they also document the routes in /openapi.json)

/** Every route's error statuses: the one error shape. */
export const errorResponses = {
  '4xx': { ...ErrorBody, description: 'the request was refused: `{error:{code,message}}`' },
  '5xx': { ...ErrorBody, description: 'server failure, or `503 overloaded` with `Retry-After`' },
} as const;

/** A 204 with no body. */
export const NoContent = { type: 'null', description: 'done; no body' } as const;

/** A `text/event-stream` response: documented, never serialized (the handler writes the stream). */
export const eventStream = (description: string) => ({
  description,
  content: { 'text/event-stream': { schema: { type: 'string', description } } },
});
