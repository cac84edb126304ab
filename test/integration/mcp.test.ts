import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { REPO_ROOT, requestJson, startTestServer, type TestServer, waitFor } from '../support/server.js';
import { ADMIN_KEY, jsonInit, tenantWithKey, uploadAs, waitKbReady, withAuth } from './auth-support.js';

/*
 * The MCP server, driven by the official MCP client over both transports: Streamable HTTP
 * straight to /mcp, and stdio through `ragd mcp`, which proxies to the same endpoint. Same tools,
 * same tenant scoping, and failures as tool errors.
 */

const TOOLS = ['ask', 'fetch', 'get_document', 'list_knowledge_bases', 'search', 'upload_text'];

type Structured<T> = CallToolResult & { structuredContent: T };
interface Cite {
  document_id: string;
  document_name: string;
  chunk_id: string;
  text: string;
}

const textOf = (r: CallToolResult) => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('');

async function call<T = Record<string, unknown>>(client: Client, name: string, args: Record<string, unknown> = {}): Promise<Structured<T>> {
  return (await client.callTool({ name, arguments: args })) as Structured<T>;
}

function httpClient(url: string, key: string): Promise<Client> {
  const client = new Client({ name: 'ragd-test', version: '1' });
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${key}` } } });
  return client.connect(transport).then(() => client);
}

async function stdioClient(url: string, key: string): Promise<{ client: Client; stderr: () => string }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ['--import', 'tsx', 'src/cli/main.ts', 'mcp'],
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', RAGD_URL: url, RAGD_API_KEY: key },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const client = new Client({ name: 'ragd-test-stdio', version: '1' });
  await client.connect(transport);
  return { client, stderr: () => stderr };
}

describe('MCP server', () => {
  let server: TestServer;
  let acmeKey: string;
  let globexKey: string;
  let acme: Client;
  let volcanoId: string;

  before(async () => {
    server = await startTestServer({ RAGD_ADMIN_KEY: ADMIN_KEY });
    const url = server.url;
    acmeKey = await tenantWithKey(url, 'acme');
    globexKey = await tenantWithKey(url, 'globex');
    await requestJson(`${url}/v1/kbs`, withAuth(acmeKey, jsonInit('POST', { id: 'facts', name: '事实' })));
    await requestJson(`${url}/v1/kbs`, withAuth(globexKey, jsonInit('POST', { id: 'secret' })));
    volcanoId = (await uploadAs(url, acmeKey, 'facts', 'volcano.txt', 'Mount Kilimanjaro is a dormant volcano in Tanzania. Uhuru Peak rises 5,895 metres above sea level.')).id;
    await uploadAs(url, acmeKey, 'facts', '年假.md', '员工每年享有十五天带薪年假。');
    await uploadAs(url, globexKey, 'secret', 'plans.txt', 'The globex launch code is 0000.');
    await waitKbReady(url, acmeKey, 'facts', 2);
    acme = await httpClient(url, acmeKey);
  });

  after(async () => {
    await acme?.close();
    await server?.close();
  });

  it('lists its tools, each with a description and a described input schema', async () => {
    const { tools } = await acme.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), TOOLS);
    for (const t of tools) {
      assert.ok((t.description ?? '').length > 40, `${t.name} has a description`);
      for (const [name, prop] of Object.entries(t.inputSchema.properties ?? {})) {
        assert.ok((prop as { description?: string }).description, `${t.name}.${name} is described`);
      }
    }
    const search = tools.find((t) => t.name === 'search')!;
    assert.deepEqual(search.inputSchema.required, ['query']);
  });

  it('calls every tool over Streamable HTTP', async () => {
    const kbs = await call<{ knowledge_bases: { id: string; name: string }[] }>(acme, 'list_knowledge_bases');
    assert.deepEqual(kbs.structuredContent.knowledge_bases.map((k) => k.id).sort(), ['default', 'facts']);
    assert.match(textOf(kbs), /facts — 事实/);

    const found = await call<{ citations: Cite[] }>(acme, 'search', { kb: 'facts', query: 'Kilimanjaro volcano', mode: 'lexical', top_k: 3 });
    assert.equal(found.isError, undefined);
    const top = found.structuredContent.citations[0]!;
    assert.equal(top.document_name, 'volcano.txt');
    assert.match(textOf(found), /^\[1\] volcano\.txt/);

    const zh = await call<{ citations: Cite[] }>(acme, 'search', { kb: 'facts', query: '年假有几天', top_k: 1 });
    assert.equal(zh.structuredContent.citations[0]?.document_name, '年假.md');

    const asked = await call<{ answer: string; answer_kind: string }>(acme, 'ask', { kb: 'facts', question: 'Where is Mount Kilimanjaro?' });
    assert.equal(asked.structuredContent.answer_kind, 'extractive');
    assert.match(textOf(asked), /^Extractive answer[\s\S]*Tanzania[\s\S]*\[1\][\s\S]*Sources:/);

    const doc = await call<{ document: { id: string; status: string }; chunks: { text: string }[]; next_offset: number | null }>(acme, 'get_document', {
      kb: 'facts',
      document_id: volcanoId,
    });
    assert.equal(doc.structuredContent.document.status, 'ready');
    assert.match(doc.structuredContent.chunks.map((c) => c.text).join(' '), /Uhuru Peak/);
    assert.equal(doc.structuredContent.next_offset, null);

    const chunk = await call<{ chunk: { chunk_id: string; text: string } }>(acme, 'fetch', { id: top.chunk_id });
    assert.equal(chunk.structuredContent.chunk.chunk_id, top.chunk_id);
    assert.equal(chunk.structuredContent.chunk.text, top.text);
    const byDoc = await call(acme, 'fetch', { kb: 'facts', id: volcanoId });
    assert.match(textOf(byDoc), /volcano\.txt[\s\S]*Uhuru Peak/);

    const uploaded = await call<{ document: { id: string; duplicate: boolean } }>(acme, 'upload_text', {
      kb: 'facts',
      name: 'otters.md',
      text: 'Sea otters hold hands while sleeping so that they do not drift apart.',
      metadata: { topic: 'animals' },
    });
    assert.equal(uploaded.structuredContent.document.duplicate, false);
    await waitFor(async () => {
      const r = await call<{ citations: Cite[] }>(acme, 'search', { kb: 'facts', query: 'otters sleeping', mode: 'lexical', filter: { metadata: { topic: 'animals' } } });
      return r.structuredContent.citations[0]?.document_name === 'otters.md';
    }, { what: 'the uploaded document to be searchable' });
  });

  it('reports bad arguments and missing things as tool errors', async () => {
    const attempts: [string, Record<string, unknown>, RegExp][] = [
      ['search', { query: 'x', top_k: 0 }, /top_k/],
      ['search', {}, /query/],
      ['ask', { question: '   ' }, /question/],
      ['search', { kb: 'nope', query: 'volcano' }, /not_found: knowledge base "nope" not found/],
      ['get_document', { kb: 'facts', document_id: 'doc_doesnotexist' }, /not_found/],
      ['fetch', { id: 'chunk_doesnotexist' }, /not_found/],
      ['upload_text', { kb: 'facts', name: 'x.txt' }, /text/],
    ];
    for (const [name, args, message] of attempts) {
      const r = await call(acme, name, args);
      assert.equal(r.isError, true, `${name} ${JSON.stringify(args)}`);
      assert.match(textOf(r), message);
    }
    // The server is still there.
    assert.equal((await acme.listTools()).tools.length, TOOLS.length);
  });

  it('scopes every tool to the key\'s tenant', async () => {
    const globex = await httpClient(server.url, globexKey);
    try {
      const kbs = await call<{ knowledge_bases: { id: string }[] }>(globex, 'list_knowledge_bases');
      assert.deepEqual(kbs.structuredContent.knowledge_bases.map((k) => k.id).sort(), ['default', 'secret']);
      assert.equal((await call(globex, 'search', { kb: 'facts', query: 'volcano' })).isError, true);
      assert.equal((await call(globex, 'get_document', { kb: 'facts', document_id: volcanoId })).isError, true);
      const found = await call<{ citations: Cite[] }>(acme, 'search', { kb: 'facts', query: 'volcano', mode: 'lexical' });
      assert.equal((await call(globex, 'fetch', { id: found.structuredContent.citations[0]!.chunk_id })).isError, true);
    } finally {
      await globex.close();
    }
    // Without a key, nothing.
    const anonymous = new Client({ name: 'anon', version: '1' });
    await assert.rejects(anonymous.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`))), /401|nauthorized/);
  });

  it('serves the same tools over stdio through `ragd mcp`, scoped by RAGD_API_KEY', async () => {
    const { client, stderr } = await stdioClient(server.url, globexKey);
    try {
      assert.deepEqual((await client.listTools()).tools.map((t) => t.name).sort(), TOOLS, stderr());
      const kbs = await call<{ knowledge_bases: { id: string }[] }>(client, 'list_knowledge_bases');
      assert.deepEqual(kbs.structuredContent.knowledge_bases.map((k) => k.id).sort(), ['default', 'secret']);
      const found = await call<{ citations: Cite[] }>(client, 'search', { kb: 'secret', query: 'launch code', mode: 'lexical' });
      assert.equal(found.structuredContent.citations[0]?.document_name, 'plans.txt');
      assert.match(textOf(await call(client, 'ask', { kb: 'secret', question: 'What is the launch code?' })), /0000/);
      const chunkId = found.structuredContent.citations[0]!.chunk_id;
      assert.match(textOf(await call(client, 'fetch', { id: chunkId })), /launch code is 0000/);
      assert.equal((await call(client, 'get_document', { kb: 'secret', document_id: found.structuredContent.citations[0]!.document_id })).isError, undefined);
      assert.equal((await call(client, 'upload_text', { kb: 'secret', name: 'more.txt', text: 'More globex plans.' })).isError, undefined);
      const bad = await call(client, 'search', { query: 'x', mode: 'fuzzy' });
      assert.equal(bad.isError, true);
      assert.match(textOf(bad), /mode/);
      assert.equal((await call(client, 'search', { kb: 'facts', query: 'volcano' })).isError, true, 'another tenant\'s KB');
    } finally {
      await client.close();
    }
  });
});
