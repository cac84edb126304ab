/**
 * /openapi.json is generated from the route schemas: every route the server registered is in it,
 * with its path parameters, a request body where it takes one, and a schema for its success
 * status. /docs serves the interactive reference.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.js';

/** The documentation's own routes (@fastify/swagger-ui hides them from the document on purpose). */
// The API reference's own pages, and the web console's (src/http/routes/console.ts): not API.
const DOC_ROUTES = /^\/(docs|kbs|ops|admin|signin|assets)?([/*]|$)/;
/** Hidden too: the stateless MCP endpoint's GET and DELETE only ever answer 405. */
const REFUSING = new Set(['GET /mcp', 'DELETE /mcp']);

/** `app.printRoutes({ commonPrefix: false })` → `GET /v1/kbs/{kb}` …, HEAD twins left out. */
function registeredRoutes(tree: string): string[] {
  const stack: string[] = [];
  const out: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    const path = (stack[depth - 1] ?? '') + m[2]!;
    stack[depth] = path;
    stack.length = depth + 1;
    for (const method of (m[3] ?? '').split(', ').filter((x) => x !== '' && x !== 'HEAD')) {
      out.push(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return out;
}

describe('OpenAPI', () => {
  let server: TestServer;
  let doc: any;

  before(async () => {
    server = await startTestServer();
    const res = await fetch(`${server.url}/openapi.json`);
    assert.equal(res.status, 200);
    doc = await res.json();
  });
  after(() => server?.close());

  test('is an OpenAPI 3 document of every registered route, with request and success-response schemas', () => {
    assert.match(doc.openapi, /^3\./);
    const routes = registeredRoutes(server.server.app.printRoutes({ commonPrefix: false })).filter((r) => !DOC_ROUTES.test(r.split(' ')[1]!) && !REFUSING.has(r));
    assert.ok(routes.length >= 15, `found only: ${routes.join(', ')}`);
    for (const route of routes) {
      const [method, path] = route.split(' ') as [string, string];
      const op = doc.paths[path]?.[method.toLowerCase()];
      assert.ok(op, `${route} is missing from /openapi.json`);

      for (const name of [...path.matchAll(/\{(\w+)\}/g)].map((x) => x[1])) {
        assert.ok(
          op.parameters?.some((p: any) => p.in === 'path' && p.name === name && p.schema),
          `${route}: path parameter ${name} has no schema`,
        );
      }
      if (method === 'POST') {
        const content = op.requestBody?.content ?? {};
        assert.ok(Object.values(content).some((c: any) => c.schema), `${route} takes a body but documents none`);
      }
      const success = Object.keys(op.responses).filter((s) => /^(2\d\d|101)$/.test(s));
      assert.equal(success.length, 1, `${route}: success statuses ${success.join(',')}`);
      const ok = op.responses[success[0]!];
      if (success[0] !== '204' && success[0] !== '101') {
        assert.ok(Object.values(ok.content ?? {}).some((c: any) => c.schema), `${route}: ${success[0]} has no schema`);
      }
      if (!['/healthz', '/readyz', '/metrics', '/openapi.json'].includes(path)) {
        assert.ok(op.responses['4XX']?.content?.['application/json']?.schema, `${route}: error responses are undocumented`);
      }
    }
  });

  test('documents the upload forms, the query stream and the list filters', () => {
    const upload = doc.paths['/v1/kbs/{kb}/documents'].post;
    assert.ok(upload.requestBody.content['multipart/form-data'].schema.properties.file);
    assert.ok(upload.requestBody.content['application/json'].schema.properties.text);
    const query = doc.paths['/v1/kbs/{kb}/query'].post.responses['200'].content;
    assert.ok(query['application/json'].schema.properties.citations);
    assert.ok(query['text/event-stream']);
    const listParams = doc.paths['/v1/kbs/{kb}/documents'].get.parameters.filter((p: any) => p.in === 'query').map((p: any) => p.name);
    assert.deepEqual(listParams.sort(), ['cursor', 'limit', 'status']);
    assert.ok(doc.paths['/v1/tasks/{id}/events'].get.responses['200'].content['text/event-stream']);
  });

  test('documents the OpenAI-compatible routes and the MCP endpoint', () => {
    const chat = doc.paths['/v1/chat/completions'].post;
    assert.ok(chat.requestBody.content['application/json'].schema.properties.messages);
    assert.ok(chat.responses['200'].content['application/json'].schema.properties.citations);
    assert.ok(chat.responses['200'].content['text/event-stream']);
    assert.ok(chat.responses['4XX'].content['application/json'].schema.properties.error.properties.type, 'OpenAI\'s error shape');
    assert.ok(doc.paths['/v1/models'].get.responses['200'].content['application/json'].schema.properties.data);
    assert.ok(doc.paths['/mcp'].post);
  });

  test('/docs serves the interactive reference', async () => {
    const res = await fetch(`${server.url}/docs`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await res.text(), /swagger-ui/i);
  });
});
