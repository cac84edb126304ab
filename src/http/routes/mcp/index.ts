import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { RoutePlugin } from '../../app.js';
import { errorResponses } from '../../schemas.js';
import { type McpDeps, mcpServerFor } from './tools.js';

/**
 * The MCP server at `/mcp`: Streamable HTTP in the SDK's stateless mode, JSON responses. Every
 * POST is a complete exchange with a fresh server bound to the tenant of its credential (the
 * same API keys and JWTs as the rest of /v1), so nothing about a client lives between requests
 * and any API node can take any request. GET (a server-initiated event stream) and DELETE (end
 * of a session) have nothing to do without sessions: 405, which clients expect.
 */

const notAllowed = { jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed: this MCP server is stateless; use POST' }, id: null };

export const mcpRoutes =
  (deps: Omit<McpDeps, 'kbs' | 'documents' | 'admission'>): RoutePlugin =>
  async (app, { services }) => {
    const all: McpDeps = { ...deps, kbs: services.kbs, documents: services.documents, ...(services.admission ? { admission: services.admission } : {}) };

    app.post(
      '/mcp',
      {
        // A tool call may be a question: it holds a query slot, as POST /v1/kbs/{kb}/query does.
        config: { admission: 'query', tenantLimit: 'query' },
        schema: {
          tags: ['mcp'],
          summary: 'MCP (Streamable HTTP, stateless): tools list_knowledge_bases, search, ask, get_document, fetch, upload_text',
          body: { description: 'a JSON-RPC message or batch' },
          response: { 200: { description: 'the JSON-RPC response; a failed tool call is a result with `isError: true`', type: 'object', additionalProperties: true }, ...errorResponses },
        },
      },
      async (request, reply) => {
        const gone = new AbortController();
        reply.raw.once('close', () => {
          if (!reply.raw.writableFinished) gone.abort(new Error('client disconnected'));
        });
        const server = mcpServerFor(all, { tenantId: request.tenantId, requestId: String(request.id), log: request.log, signal: gone.signal });
        const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
        reply.raw.once('close', () => {
          void transport.close();
          void server.close();
        });
        await server.connect(transport);
        reply.hijack();
        reply.raw.setHeader('x-request-id', String(request.id));
        await transport.handleRequest(request.raw, reply.raw, request.body);
      },
    );

    // Hidden from /openapi.json: they exist only to say 405, which MCP clients take as "no stream here".
    const refuse = { schema: { hide: true } };
    app.get('/mcp', refuse, async (_request, reply) => reply.code(405).header('allow', 'POST').send(notAllowed));
    app.delete('/mcp', refuse, async (_request, reply) => reply.code(405).header('allow', 'POST').send(notAllowed));
  };
