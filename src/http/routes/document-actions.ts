import { extname } from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import type { DocType } from '../../domain/types.js';
import type { ChunkRecord } from '../../ports/store.js';
import type { RoutePlugin } from '../app.js';
import { DocumentParams, DocumentViewSchema, errorResponses, KbParams, NoBody, Nullable } from '../schemas.js';

/**
 * What the console (and any client) needs beyond upload/list/read/delete: retrying failed
 * documents from the stage that failed, the chunks a document became, and its original file.
 */

/** The Content-Type of a stored original, from the type it was stored as (never sniffed again). */
const CONTENT_TYPES: Readonly<Record<Exclude<DocType, 'image'>, string>> = {
  text: 'text/plain; charset=utf-8',
  markdown: 'text/markdown; charset=utf-8',
  // Served as an attachment in a sandbox (see below), so an uploaded page can never run as ours.
  html: 'text/html; charset=utf-8',
  pdf: 'application/pdf',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  csv: 'text/csv; charset=utf-8',
  json: 'application/json',
};
const IMAGE_TYPES: Readonly<Record<string, string>> = {
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.tif': 'image/tiff', '.tiff': 'image/tiff', '.webp': 'image/webp', '.bmp': 'image/bmp',
};

export function contentTypeOf(type: DocType, name: string): string {
  if (type !== 'image') return CONTENT_TYPES[type];
  return IMAGE_TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * `attachment` with the original name: an ASCII fallback (`filename`, non-ASCII and quoting
 * characters replaced) and the exact name in UTF-8 (`filename*`, RFC 5987), which browsers prefer.
 * Only the last path segment: a name uploaded with its folder ("a/b.pdf") downloads as "b.pdf".
 */
export function contentDisposition(name: string): string {
  const base = name.split(/[\\/]/).pop() || 'document';
  const ascii = base.replace(/[^\x20-\x7e]|["\\%;]/g, '_');
  const encoded = encodeURIComponent(base).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

const ChunksQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
    after: Type.Optional(Type.Integer({ minimum: -1, default: -1, description: 'the last ordinal of the previous page' })),
  },
  { additionalProperties: false },
);
type ChunksQuery = Static<typeof ChunksQuery>;

const ChunkView = Type.Object({
  id: Type.String(),
  ordinal: Type.Integer(),
  text: Type.String(),
  heading_path: Type.Array(Type.String()),
  page: Nullable(Type.Integer()),
  token_count: Type.Integer(),
});

const ChunkPage = Type.Object(
  { chunks: Type.Array(ChunkView), next_after: Nullable(Type.Integer()) },
  { description: 'a page of chunks in document order; pass next_after as after for the next' },
);

const RetryAllQuery = Type.Object(
  { status: Type.Unsafe<'failed'>({ type: 'string', enum: ['failed'], description: 'which documents: only `failed` can be retried' }) },
  { additionalProperties: false },
);

const KbStats = Type.Object({
  documents: Type.Object({}, { additionalProperties: Type.Integer(), description: 'documents by status' }),
  chunks: Type.Integer(),
});

const toChunkView = (c: ChunkRecord) => ({
  id: c.id, ordinal: c.ordinal, text: c.text, heading_path: c.headingPath, page: c.page, token_count: c.tokenCount,
});

export const documentActionRoutes: RoutePlugin = async (app, { services }) => {
  const { documents } = services;

  app.post<{ Params: DocumentParams }>(
    '/v1/kbs/:kb/documents/:id/retry',
    {
      schema: {
        tags: ['documents'],
        summary: 'Retry a failed document from the stage that failed (409 not_failed when it has not failed)',
        params: DocumentParams,
        body: NoBody,
        response: { 200: DocumentViewSchema, ...errorResponses },
      },
    },
    async (request) => documents.retry({ tenantId: request.tenantId, kbId: request.params.kb }, request.params.id),
  );

  app.post<{ Params: KbParams; Querystring: { status: 'failed' } }>(
    '/v1/kbs/:kb/documents/retry',
    {
      schema: {
        tags: ['documents'],
        summary: 'Retry every failed document of the knowledge base',
        params: KbParams,
        querystring: RetryAllQuery,
        body: NoBody,
        response: { 200: Type.Object({ retried: Type.Integer() }), ...errorResponses },
      },
    },
    async (request) => documents.retryFailed({ tenantId: request.tenantId, kbId: request.params.kb }),
  );

  app.get<{ Params: KbParams }>(
    '/v1/kbs/:kb/stats',
    {
      schema: {
        tags: ['kbs'],
        summary: 'A knowledge base\'s documents by status and its chunk count',
        params: KbParams,
        response: { 200: KbStats, ...errorResponses },
      },
    },
    async (request) => documents.counts({ tenantId: request.tenantId, kbId: request.params.kb }),
  );

  app.get<{ Params: DocumentParams }>(
    '/v1/kbs/:kb/documents/:id/file',
    {
      schema: {
        tags: ['documents'],
        summary: 'The document\'s original file as uploaded (streamed; Content-Type from its type, its name in Content-Disposition)',
        params: DocumentParams,
        response: {
          200: { description: 'the stored bytes', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { document, bytes, stream } = await documents.original({ tenantId: request.tenantId, kbId: request.params.kb }, request.params.id);
      return reply
        .header('content-type', contentTypeOf(document.type, document.name))
        .header('content-length', bytes)
        .header('content-disposition', contentDisposition(document.name))
        // Someone's upload, not our page: never sniffed, never run with this origin's rights.
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "sandbox; default-src 'none'")
        .header('cache-control', 'private, no-store')
        .send(stream);
    },
  );

  app.get<{ Params: DocumentParams; Querystring: ChunksQuery }>(
    '/v1/kbs/:kb/documents/:id/chunks',
    {
      schema: {
        tags: ['documents'],
        summary: 'The chunks a document became: text, heading path, page and token count',
        params: DocumentParams,
        querystring: ChunksQuery,
        response: { 200: ChunkPage, ...errorResponses },
      },
    },
    async (request) => {
      const page = await documents.chunks({ tenantId: request.tenantId, kbId: request.params.kb }, request.params.id, {
        limit: request.query.limit ?? 50,
        after: request.query.after ?? -1,
      });
      return { chunks: page.chunks.map(toChunkView), next_after: page.next_after };
    },
  );
};
