import { createRequire } from 'node:module';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { FastifyBaseLogger } from 'fastify';
import { z } from 'zod';
import type { Scope } from '../../../domain/types.js';
import type { SearchFilter, StoredChunk } from '../../../ports/store.js';
import type { Admission } from '../../../services/admission.js';
import type { DocumentReader } from '../../../services/document-reader.js';
import type { DocumentService } from '../../../services/document-service.js';
import type { KbService } from '../../../services/kb-service.js';
import { DEFAULT_KB } from '../../../services/kb-service.js';
import type { QueryService } from '../../../services/query/query-service.js';
import { type Citation, DEFAULT_TOP_K, MAX_QUERY_CHARS, MAX_TOP_K, SEARCH_MODES, type SearchMode } from '../../../services/query/types.js';
import { describeError } from '../../plugins/errors.js';

/**
 * ragd's MCP tools. Each call runs the same service method the matching HTTP route runs, scoped to
 * the tenant of the request's credential. A failure is a tool result with `isError: true` whose
 * text says what went wrong (agents read it and correct themselves), never a protocol error or a
 * crash; internal failures are logged and reported without detail, as on HTTP.
 */

export interface McpDeps {
  kbs: KbService;
  documents: DocumentService;
  query: QueryService;
  reader: DocumentReader;
  admission?: Admission;
}

export interface McpCall {
  tenantId: string;
  requestId: string;
  log: FastifyBaseLogger;
  /** Fires when the HTTP client goes away. */
  signal: AbortSignal;
}

// The same relative path from src/http/routes/mcp and from dist/http/routes/mcp.
const { version } = createRequire(import.meta.url)('../../../../package.json') as { version: string };

const kbArg = z
  .string()
  .min(1)
  .max(64)
  .default(DEFAULT_KB)
  .describe('Knowledge base id (list_knowledge_bases shows them). Default: "default".');
const modeArg = z
  .enum(SEARCH_MODES as [SearchMode, ...SearchMode[]])
  .default('hybrid')
  .describe('hybrid (default): keywords and meaning combined; lexical: exact words (names, codes, numbers); vector: meaning only.');
const topKArg = z.number().int().min(1).max(MAX_TOP_K).default(DEFAULT_TOP_K).describe(`How many passages to return, 1 to ${MAX_TOP_K}. Default ${DEFAULT_TOP_K}.`);
const questionArg = (what: string) => z.string().trim().min(1).max(MAX_QUERY_CHARS).describe(what);

const text = (s: string): CallToolResult['content'] => [{ type: 'text', text: s }];

const where = (c: { document_name: string; page: number | null }) => `${c.document_name}${c.page !== null ? `, page ${c.page}` : ''}`;

function sourcesText(citations: readonly Citation[]): string {
  if (citations.length === 0) return 'No passage matches.';
  return citations
    .map((c, i) => `[${i + 1}] ${where(c)} (document_id ${c.document_id}, chunk_id ${c.chunk_id}, score ${c.score.toPrecision(3)})\n${c.text.trim()}`)
    .join('\n\n');
}

const chunkText = (c: StoredChunk) => `--- chunk ${c.ordinal} (chunk_id ${c.chunkId}${c.page !== null ? `, page ${c.page}` : ''})\n${c.text.trim()}`;

const chunkView = (c: StoredChunk) => ({
  chunk_id: c.chunkId,
  kb: c.kbId,
  document_id: c.documentId,
  document_name: c.documentName,
  ordinal: c.ordinal,
  page: c.page,
  text: c.text,
});

/** A fresh MCP server for one HTTP request (stateless transport), bound to that request's tenant. */
export function mcpServerFor(deps: McpDeps, call: McpCall): McpServer {
  const server = new McpServer({ name: 'ragd', version }, { instructions: 'Search and ask ragd knowledge bases. Start with list_knowledge_bases; cite passages by their [n].' });
  const scope = (kb: string): Scope => ({ tenantId: call.tenantId, kbId: kb });

  /** Any failure becomes a tool error the agent can read. */
  const guarded =
    <A>(name: string, fn: (args: A) => Promise<CallToolResult>) =>
    async (args: A): Promise<CallToolResult> => {
      try {
        return await fn(args);
      } catch (err) {
        const d = describeError(err);
        if (d.internal) call.log.error({ err, tool: name }, 'MCP tool failed');
        else call.log.info({ tool: name, code: d.code }, d.message);
        return { isError: true, content: text(`${d.code}: ${d.message}`) };
      }
    };

  server.registerTool(
    'list_knowledge_bases',
    {
      title: 'List knowledge bases',
      description: 'Lists the knowledge bases this API key can read: their ids (pass one as `kb` to the other tools) and names.',
      inputSchema: {},
      annotations: { readOnlyHint: true },
    },
    guarded('list_knowledge_bases', async () => {
      const kbs = (await deps.kbs.list(call.tenantId)).map((kb) => ({ id: kb.id, name: kb.name, created_at: kb.createdAt }));
      const lines = kbs.map((kb) => `${kb.id}${kb.name !== kb.id ? ` — ${kb.name}` : ''}`);
      return { content: text(lines.join('\n') || 'No knowledge bases.'), structuredContent: { knowledge_bases: kbs } };
    }),
  );

  server.registerTool(
    'search',
    {
      title: 'Search a knowledge base',
      description:
        'Finds the passages of a knowledge base that best match a query, best first, each with its document, page, document_id and chunk_id. ' +
        'Returns passages only, no generated answer: use it to read the sources yourself; use `ask` for a cited answer.',
      inputSchema: {
        query: questionArg('What to look for: a question or keywords, in any language.'),
        kb: kbArg,
        mode: modeArg,
        top_k: topKArg,
        filter: z
          .object({
            document_ids: z.array(z.string().min(1).max(64)).max(1000).optional().describe('Only these documents.'),
            metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional().describe('Only documents whose metadata has exactly these values.'),
          })
          .optional()
          .describe('Narrow the search to some documents.'),
      },
      annotations: { readOnlyHint: true },
    },
    guarded('search', async ({ query, kb, mode, top_k, filter }) => {
      const f: SearchFilter = {
        ...(filter?.document_ids ? { documentIds: filter.document_ids } : {}),
        ...(filter?.metadata ? { metadata: filter.metadata } : {}),
      };
      const result = await deps.query.run(
        scope(kb),
        { query, mode, topK: top_k, onlyContext: true, ...(f.documentIds || f.metadata ? { filter: f } : {}) },
        { signal: call.signal, requestId: call.requestId },
      );
      const notice = result.notice ? `\n\n(${result.notice})` : '';
      return { content: text(sourcesText(result.citations) + notice), structuredContent: { citations: result.citations, pending_documents: result.pending_documents } };
    }),
  );

  server.registerTool(
    'ask',
    {
      title: 'Ask a knowledge base',
      description:
        'Answers a question from a knowledge base, citing its sources as [n]; the numbered sources follow the answer. ' +
        'Without a language model configured on the server, the answer is extractive (quoted sentences) and says so.',
      inputSchema: {
        question: questionArg('The question, in any language. Make it standalone: the tool does not see your conversation.'),
        kb: kbArg,
        mode: modeArg,
        top_k: topKArg,
      },
      annotations: { readOnlyHint: true },
    },
    guarded('ask', async ({ question, kb, mode, top_k }) => {
      const result = await deps.query.run(scope(kb), { query: question, mode, topK: top_k, onlyContext: false }, { signal: call.signal, requestId: call.requestId });
      const notice = result.notice ? `\n\n(${result.notice})` : '';
      return {
        content: text(`${result.answer ?? ''}${notice}\n\nSources:\n\n${sourcesText(result.citations)}`),
        structuredContent: { answer: result.answer, answer_kind: result.answer_kind, citations: result.citations },
      };
    }),
  );

  const documentArgs = {
    kb: kbArg,
    offset: z.number().int().min(0).default(0).describe('First chunk to return (the next_offset of an earlier call). Default 0.'),
    limit: z.number().int().min(1).max(200).default(50).describe('How many chunks to return, 1 to 200. Default 50.'),
  };
  const readDocument = async (kb: string, documentId: string, offset: number, limit: number): Promise<CallToolResult> => {
    const r = await deps.reader.documentText(scope(kb), documentId, { offset, limit });
    const d = r.document;
    const head = `${d.name} (document_id ${d.id}, status ${d.status}, ${d.chunks} chunks)`;
    const more = r.nextOffset !== null ? `\n\n(more: call again with offset ${r.nextOffset})` : '';
    const body = r.chunks.length > 0 ? r.chunks.map(chunkText).join('\n\n') : d.status === 'ready' ? '(no text)' : '(not indexed yet)';
    return {
      content: text(`${head}\n\n${body}${more}`),
      structuredContent: { document: d, chunks: r.chunks.map(chunkView), next_offset: r.nextOffset },
    };
  };

  server.registerTool(
    'get_document',
    {
      title: 'Read a document',
      description:
        'Returns a document\'s status and its indexed text as chunks in order (neighbouring chunks may overlap by a sentence), ' +
        'paged by offset/limit. Use the document_id a search or ask result gave.',
      inputSchema: { document_id: z.string().min(1).max(64).describe('The document\'s id (document_id in search results).'), ...documentArgs },
      annotations: { readOnlyHint: true },
    },
    guarded('get_document', ({ kb, document_id, offset, limit }) => readDocument(kb, document_id, offset, limit)),
  );

  server.registerTool(
    'fetch',
    {
      title: 'Fetch a passage or document by id',
      description: 'Returns the full text of one passage by its chunk_id, or of a document (its chunks in order) by its document_id, as given in search results.',
      inputSchema: { id: z.string().min(1).max(64).describe('A chunk_id or a document_id from search results.'), ...documentArgs },
      annotations: { readOnlyHint: true },
    },
    guarded('fetch', async ({ id, kb, offset, limit }) => {
      const chunk = await deps.reader.chunk(call.tenantId, id).catch(() => null);
      if (!chunk) return readDocument(kb, id, offset, limit);
      return { content: text(`${chunk.documentName} (document_id ${chunk.documentId})\n\n${chunkText(chunk)}`), structuredContent: { chunk: chunkView(chunk) } };
    }),
  );

  server.registerTool(
    'upload_text',
    {
      title: 'Add a text document',
      description:
        'Adds a text document to a knowledge base. It is queued and becomes searchable once indexed (usually seconds); ' +
        'get_document shows its status. Uploading the same text twice returns the existing document (duplicate: true).',
      inputSchema: {
        name: z.string().trim().min(1).max(512).describe('Document name shown in citations, e.g. "meeting-notes.md"; .md, .html, .csv, .json keep their format, anything else is plain text.'),
        text: z.string().min(1).describe('The document\'s content.'),
        kb: kbArg,
        metadata: z.record(z.string(), z.unknown()).optional().describe('Optional key/value metadata, usable in search filters.'),
      },
    },
    guarded('upload_text', async ({ name, text: body, kb, metadata }) => {
      // The same backlog bound as an HTTP upload.
      await deps.admission?.uploads.check();
      const doc = await deps.documents.uploadText(scope(kb), { name, text: body, ...(metadata ? { metadata } : {}) });
      const what = doc.duplicate ? 'already in the knowledge base' : `queued (status ${doc.status})`;
      return { content: text(`${doc.name}: ${what}, document_id ${doc.id}`), structuredContent: { document: doc } };
    }),
  );

  return server;
}
