import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { createRequire } from 'node:module';

// The same relative path from src/http/plugins and from dist/http/plugins.
const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string };

/**
 * The OpenAPI 3 document, generated from the route schemas, at `GET /openapi.json`, and an
 * interactive reference at `/docs`. Must be registered before the routes: @fastify/swagger
 * collects them as they are added.
 */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'ragd',
        description:
          'A RAG knowledge-base server. Errors are `{error:{code,message}}`; `503 overloaded` comes with `Retry-After`.',
        version,
      },
      tags: [
        { name: 'health', description: 'liveness, readiness, metrics' },
        { name: 'kbs', description: 'knowledge bases' },
        { name: 'documents', description: 'upload, list, read and delete documents' },
        { name: 'tasks', description: 'pipeline and query-job progress' },
        { name: 'query', description: 'questions and answers' },
        { name: 'openai', description: 'OpenAI-compatible chat over a knowledge base (`model` = KB); errors in OpenAI\'s shape' },
        { name: 'mcp', description: 'the MCP server (Streamable HTTP)' },
      ],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.get(
    '/openapi.json',
    {
      logLevel: 'warn',
      schema: {
        tags: ['health'],
        summary: 'This OpenAPI 3 document',
        response: { 200: { description: 'OpenAPI 3 document', type: 'object', additionalProperties: true } },
      },
    },
    async () => app.swagger(),
  );
}
