import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import { startObservedServer, type ObservedServer } from '../support/observed.js';
import { waitFor, waitReady } from '../support/server.js';

/**
 * Tracing end to end: ragd exports OTLP/HTTP JSON to a receiver started here, and one trace
 * follows a request through what it caused — an upload into every stage job of its document
 * (the context travels through the durable queue) and the model calls those jobs make; a query
 * into its phases and its model calls.
 */

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: { stringValue?: string; intValue?: string | number } }[];
}

/** A minimal OTLP/HTTP receiver: stores the spans of every JSON export request. */
async function startReceiver(): Promise<{ url: string; spans: OtlpSpan[]; contentTypes: string[]; server: Server }> {
  const spans: OtlpSpan[] = [];
  const contentTypes: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      contentTypes.push(String(req.headers['content-type']));
      if (req.method === 'POST' && req.url === '/v1/traces') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[];
        };
        for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, spans, contentTypes, server };
}

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;
const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

describe('tracing', { timeout: 180_000 }, () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let fake: FakeOpenAI;
  let srv: ObservedServer;

  before(async () => {
    receiver = await startReceiver();
    fake = await startFakeOpenAI({ answer: 'Zebrafish Guest [1].', embedDim: 32 });
    srv = await startObservedServer(
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_SERVICE_NAME: 'ragd-test',
        RAGD_LLM_BASE_URL: fake.url,
        RAGD_EMBED_BASE_URL: fake.url,
        RAGD_EMBED_DIM: '32',
      },
      { logLevel: 'info' },
    );
  });
  after(async () => {
    await srv?.close();
    await fake?.close();
    await new Promise((r) => receiver?.server.close(r));
  });

  test('one trace spans the upload request, its stage jobs and their model calls; a query trace has its phases', async () => {
    // The caller's traceparent makes the upload part of the caller's trace.
    const upload = await fetch(`${srv.url}/v1/kbs/default/documents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${CALLER_TRACE}-00f067aa0ba902b7-01` },
      body: JSON.stringify({ name: 'net.md', text: 'The guest network is called Zebrafish Guest.' }),
    });
    assert.equal(upload.status, 202);
    const docId = ((await upload.json()) as { documents: { id: string }[] }).documents[0]!.id;
    await waitReady(srv.url, 'default', [docId], { timeoutMs: 60_000 });

    const queried = await fetch(`${srv.url}/v1/kbs/default/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'what is the guest network called' }),
    });
    assert.equal(queried.status, 200);
    // The same question as a query job: it runs after the request has ended, in its trace.
    const submitted = await fetch(`${srv.url}/v1/kbs/default/retrieve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'how is the guest network named' }),
    });
    assert.equal(submitted.status, 202);
    const taskId = ((await submitted.json()) as { task_id: string }).task_id;
    await waitFor(async () => ((await (await fetch(`${srv.url}/v1/tasks/${taskId}`)).json()) as { status: string }).status === 'succeeded', {
      what: 'the query job',
    });
    const logLine = srv.logs().find((l) => l.msg === 'request completed' && typeof l.trace_id === 'string');
    assert.ok(logLine, 'request log lines carry the trace id');

    await srv.close(); // flushes the span batch
    assert.ok(receiver.contentTypes.includes('application/json'), `OTLP bodies are JSON: ${receiver.contentTypes.join(', ')}`);
    const spans = receiver.spans;
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const parentOf = (s: OtlpSpan) => (s.parentSpanId ? byId.get(s.parentSpanId) : undefined);

    // Upload: HTTP span → a span per stage job → the embed stage's model call.
    const uploadSpan = spans.find((s) => s.name === 'POST /v1/kbs/:kb/documents');
    assert.ok(uploadSpan, `upload span among: ${spans.map((s) => s.name).join(', ')}`);
    assert.equal(uploadSpan.kind, SPAN_KIND_SERVER);
    assert.equal(uploadSpan.traceId, CALLER_TRACE, "the caller's trace continues");
    const inUpload = spans.filter((s) => s.traceId === uploadSpan.traceId);
    for (const stage of ['parse', 'chunk', 'embed', 'index']) {
      const job = inUpload.find((s) => s.name === `pipeline ${stage}`);
      assert.ok(job, `pipeline ${stage} is in the upload's trace`);
      assert.equal(job.parentSpanId, uploadSpan.spanId, `pipeline ${stage} is a child of the upload request`);
    }
    const embedCall = inUpload.find((s) => s.name === 'embed call');
    assert.ok(embedCall, 'the embed stage model call is in the trace');
    assert.equal(embedCall.kind, SPAN_KIND_CLIENT);
    assert.equal(parentOf(embedCall)?.name, 'pipeline embed');

    // Query: HTTP span → query → retrieve (query embedding) and generate (LLM call).
    const querySpan = spans.find((s) => s.name === 'POST /v1/kbs/:kb/query');
    assert.ok(querySpan);
    const inQuery = spans.filter((s) => s.traceId === querySpan.traceId);
    assert.notEqual(querySpan.traceId, uploadSpan.traceId);
    const phase = (name: string) => inQuery.find((s) => s.name === name);
    assert.equal(parentOf(phase('query')!)?.spanId, querySpan.spanId);
    for (const name of ['query retrieve', 'query generate']) assert.equal(parentOf(phase(name)!)?.name, 'query', `${name} under query`);
    assert.equal(parentOf(phase('llm call')!)?.name, 'query generate');
    assert.equal(parentOf(phase('embed call')!)?.name, 'query retrieve');

    const jobRequest = spans.find((s) => s.name === 'POST /v1/kbs/:kb/retrieve');
    assert.ok(jobRequest);
    const jobQuery = spans.find((s) => s.name === 'query' && s.traceId === jobRequest.traceId);
    assert.equal(jobQuery?.parentSpanId, jobRequest.spanId, 'the query job continues its request trace');
  });
});
