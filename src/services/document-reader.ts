import { notFound } from '../domain/errors.js';
import type { DocumentView, Scope } from '../domain/types.js';
import type { Store, StoredChunk } from '../ports/store.js';
import type { DocumentService } from './document-service.js';

export const MAX_CHUNKS_PER_READ = 200;

export interface DocumentText {
  document: DocumentView;
  /** The chunks read, in document order; consecutive chunks may overlap by a sentence or two. */
  chunks: StoredChunk[];
  /** Ordinal to pass as `offset` for the rest, or null when this read reached the end. */
  nextOffset: number | null;
}

/**
 * Reads indexed text back: a document's chunks in order, or one chunk by the id a search
 * returned. For clients that have a citation and want its surroundings (the MCP tools).
 */
export class DocumentReader {
  constructor(
    private readonly store: Store,
    private readonly documents: Pick<DocumentService, 'get'>,
  ) {}

  async documentText(scope: Scope, documentId: string, page: { offset: number; limit: number }): Promise<DocumentText> {
    const document = await this.documents.get(scope, documentId);
    const limit = Math.min(Math.max(1, page.limit), MAX_CHUNKS_PER_READ);
    const chunks = await this.store.documentChunks(scope, documentId, { offset: Math.max(0, page.offset), limit: limit + 1 });
    const more = chunks.length > limit;
    if (more) chunks.length = limit;
    return { document, chunks, nextOffset: more ? chunks[chunks.length - 1]!.ordinal + 1 : null };
  }

  async chunk(tenantId: string, chunkId: string): Promise<StoredChunk> {
    const chunk = await this.store.getChunk(tenantId, chunkId);
    if (!chunk) throw notFound(`chunk "${chunkId}"`);
    return chunk;
  }
}
