import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Writable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import WebSocket from 'ws';
import { loadConfig, type Config } from '../../src/config/config.js';
import { AppError, notFound } from '../../src/domain/errors.js';
import type { DocumentStatus, DocumentView, Scope, TaskView } from '../../src/domain/types.js';
import { buildHttpApp, type HttpServices } from '../../src/http/app.js';
import { openSse } from '../../src/http/sse.js';
import type { KbRecord } from '../../src/ports/store.js';
import type { DocumentService, UploadedDocument } from '../../src/services/document-service.js';
import type { HealthCheck } from '../../src/services/health.js';
import type { KbService } from '../../src/services/kb-service.js';
import type { TaskService } from '../../src/services/task-service.js';

// ---------------------------------------------------------------------------------------------
// In-test fakes: just enough behaviour to exercise the HTTP layer.

const NOW = '2025-01-01T00:00:00.000Z';

function kbRecord(id: string, tenantId = 'default'): KbRecord {
  return { tenantId, id, name: id, embedder: 'hash:512', embedDim: 512, ocr: 'auto', version: 1, createdAt: NOW };
}

function taskView(id: string, version: number, status: TaskView['status'] = 'running'): TaskView {
  return {
    id,
    kind: 'ingest',
    kb: 'default',
    status,
    stage: status === 'running' ? 'parse' : null,
    progress: { done: version, total: 4 },
    error: null,
    document_id: 'doc_00000001',
    result: null,
    created_at: NOW,
    updated_at: NOW,
    version,
  };
}

interface StreamCall {
  scope: Scope;
  filename: string;
  content: string;
  metadata: Record<string, unknown> | undefined;
}

class Fakes {
  kbs = new Map<string, KbRecord>([['default', kbRecord('default')]]);
  streamCalls: StreamCall[] = [];
  textCalls: Array<{ scope: Scope; name: string; text: string; metadata?: Record<string, unknown> }> = [];
  listCalls: Array<{ status?: DocumentStatus; limit: number; cursor?: string }> = [];
  /** Listeners of follow() / followKb(), so a test can push changes. */
  taskListeners = new Map<string, Set<(t: TaskView) => void>>();
  kbListeners = new Map<string, Set<(t: TaskView) => void>>();
  tasks = new Map<string, TaskView>();
  unsubscribed: string[] = [];
  healthy = new Map<string, 'ok' | 'fail' | 'hang'>();

  services(): HttpServices {
    const kbs = {
      create: async (tenantId: string, input: { id: string; name?: string }) => {
        if (this.kbs.has(input.id)) throw new AppError(409, 'kb_exists', 'exists');
        const rec = { ...kbRecord(input.id, tenantId), name: input.name ?? input.id };
        this.kbs.set(input.id, rec);
        return rec;
      },
      list: async () => [...this.kbs.values()],
      get: async (scope: Scope) => {
        const kb = this.kbs.get(scope.kbId);
        if (!kb) throw notFound(`knowledge base "${scope.kbId}"`);
        return kb;
      },
      delete: async (scope: Scope) => {
        if (scope.kbId === 'default') throw new AppError(409, 'kb_protected', 'protected');
        if (!this.kbs.delete(scope.kbId)) throw notFound('kb');
      },
    };
    const documents = {
      uploadStream: async (
        scope: Scope,
        file: { filename: string; stream: NodeJS.ReadableStream; metadata?: Record<string, unknown> },
      ): Promise<UploadedDocument> => {
        if (!this.kbs.has(scope.kbId)) throw notFound('kb');
        const chunks: Buffer[] = [];
        for await (const chunk of file.stream) chunks.push(Buffer.from(chunk as Buffer));
        const content = Buffer.concat(chunks).toString('utf8');
        if (file.filename.endsWith('.exe')) throw new AppError(415, 'unsupported_type', 'not a document');
        if (file.filename === 'boom.txt') throw new Error('disk on fire at /secret/path');
        this.streamCalls.push({ scope, filename: file.filename, content, metadata: file.metadata });
        const n = this.streamCalls.length;
        return { id: `doc_0000000${n}`, name: file.filename, status: 'queued', task_id: `task_000000${n}`, duplicate: false };
      },
      uploadText: async (scope: Scope, input: { name: string; text: string; metadata?: Record<string, unknown> }) => {
        this.textCalls.push({ scope, ...input });
        return { id: 'doc_text0001', name: input.name, status: 'queued' as const, task_id: 'task_text001', duplicate: false };
      },
      list: async (_scope: Scope, q: { status?: DocumentStatus; limit: number; cursor?: string }) => {
        this.listCalls.push(q);
        return { documents: [], next_cursor: null };
      },
      get: async (scope: Scope, id: string): Promise<DocumentView> => {
        if (id !== 'doc_00000001') throw notFound(`document "${id}"`);
        // Internal fields a careless service might leave on: the response schema must drop them.
        return {
          id,
          kb: scope.kbId,
          name: 'a.txt',
          type: 'text',
          status: 'ready',
          stage: null,
          progress: { done: 4, total: 4 },
          error: null,
          chunks: 3,
          bytes: 10,
          content_hash: 'abc',
          metadata: { team: 'x' },
          ocr: { mode: 'auto' },
          task_id: 'task_0000001',
          created_at: NOW,
          updated_at: NOW,
          tenantId: 'default',
          blobKey: '/secret/blob',
        } as DocumentView;
      },
      delete: async (_scope: Scope, id: string) => {
        if (id !== 'doc_00000001') throw notFound('document');
      },
    };
    const subscribe = (map: Map<string, Set<(t: TaskView) => void>>, key: string, fn: (t: TaskView) => void) => {
      let set = map.get(key);
      if (!set) map.set(key, (set = new Set()));
      set.add(fn);
      return () => {
        set.delete(fn);
        this.unsubscribed.push(key);
      };
    };
    const tasks = {
      get: async (_tenantId: string, id: string) => {
        const t = this.tasks.get(id);
        if (!t) throw notFound(`task "${id}"`);
        return t;
      },
      follow: async (_tenantId: string, id: string, onEvent: (t: TaskView) => void) => {
        const t = this.tasks.get(id);
        if (!t) throw notFound(`task "${id}"`);
        const off = subscribe(this.taskListeners, id, onEvent);
        onEvent(t); // the current state first, synchronously, like the real service can
        return off;
      },
      followKb: async (scope: Scope, onEvent: (t: TaskView) => void) => {
        if (!this.kbs.has(scope.kbId)) throw notFound(`knowledge base "${scope.kbId}"`);
        return subscribe(this.kbListeners, scope.kbId, onEvent);
      },
    };
    const health: HealthCheck[] = ['store', 'queue'].map((name) => ({
      name,
      check: async () => {
        const mode = this.healthy.get(name) ?? 'ok';
        if (mode === 'fail') throw new Error('ECONNREFUSED 10.0.0.7:5432');
        if (mode === 'hang') await new Promise((r) => setTimeout(r, 1000));
      },
    }));
    return {
      kbs: kbs as unknown as KbService,
      documents: documents as unknown as DocumentService,
      tasks: tasks as unknown as TaskService,
      health,
    };
  }

  pushTask(t: TaskView) {
    this.tasks.set(t.id, t);
    for (const fn of this.taskListeners.get(t.id) ?? []) fn(t);
    for (const fn of this.kbListeners.get(t.kb) ?? []) fn(t);
  }
}

function testConfig(overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({}), maxJsonBytes: 2048, maxUploadBytes: 64, maxFilesPerRequest: 5, ...overrides };
}

async function makeApp(fakes: Fakes, config = testConfig()): Promise<FastifyInstance> {
  return buildHttpApp({
    config,
    services: fakes.services(),
    logger: false,
    timing: { readyTimeoutMs: 50, ssePingMs: 60_000, wsPingMs: 60_000 },
  });
}

type FormPart = { name: string; value: string; filename?: string; contentType?: string };

function multipartBody(parts: FormPart[], boundary = '----ragdtestboundary'): { payload: Buffer; headers: Record<string, string> } {
  const chunks: string[] = [];
  for (const p of parts) {
    chunks.push(`--${boundary}\r\n`);
    const filename = p.filename !== undefined ? `; filename="${p.filename}"` : '';
    chunks.push(`Content-Disposition: form-data; name="${p.name}"${filename}\r\n`);
    if (p.contentType) chunks.push(`Content-Type: ${p.contentType}\r\n`);
    else if (p.filename !== undefined) chunks.push('Content-Type: application/octet-stream\r\n');
    chunks.push(`\r\n${p.value}\r\n`);
  }
  chunks.push(`--${boundary}--\r\n`);
  return {
    payload: Buffer.from(chunks.join(''), 'utf8'),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  };
}

// ---------------------------------------------------------------------------------------------

describe('http app (inject)', () => {
  let fakes: Fakes;
  let app: FastifyInstance;

  before(async () => {
    fakes = new Fakes();
    app = await makeApp(fakes);
    await app.ready();
  });
  after(() => app.close());

  it('answers unknown routes with a 404 error body', async () => {
    const res = await app.inject({ method: 'GET', url: '/nope?token=secret' });
    assert.equal(res.statusCode, 404);
    const body = res.json();
    assert.equal(body.error.code, 'not_found');
    assert.match(body.error.message, /GET \/nope/);
    assert.doesNotMatch(body.error.message, /secret/);
  });

  it('GET /healthz is ok', async () => {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'ok' });
  });

  it('GET /readyz is ready when every check passes, 503 naming the failing one otherwise', async () => {
    let res = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'ready', checks: { store: 'ok', queue: 'ok' } });

    fakes.healthy.set('store', 'fail');
    fakes.healthy.set('queue', 'hang');
    try {
      res = await app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(res.statusCode, 503);
      const body = res.json();
      assert.equal(body.error.code, 'not_ready');
      assert.match(body.error.message, /store/);
      assert.match(body.error.message, /queue/);
      assert.deepEqual(body.checks, { store: 'failed', queue: 'timeout' });
      // The dependency's own error (hosts, ports) stays in the log.
      assert.doesNotMatch(res.body, /10\.0\.0\.7/);
    } finally {
      fakes.healthy.clear();
    }
  });

  it('rejects a schema violation with 400 invalid_request naming the field', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/kbs', payload: { id: '-bad id' } });
    assert.equal(res.statusCode, 400);
    const body = res.json();
    assert.equal(body.error.code, 'invalid_request');
    assert.match(body.error.message, /body\.id/);
  });

  it('rejects (does not strip) unknown JSON fields', async () => {
    const before = fakes.kbs.size;
    const res = await app.inject({ method: 'POST', url: '/v1/kbs', payload: { id: 'kb1', colour: 'red' } });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error.code, 'invalid_request');
    assert.match(res.json().error.message, /colour/);
    assert.equal(fakes.kbs.size, before);
  });

  it('names a missing required field', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/kbs/default/documents', payload: { name: 'a.txt' } });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().error.message, /body\.text is required/);
  });

  it('rejects a body that is not UTF-8 with 400 invalid_utf8', async () => {
    const payload = Buffer.concat([Buffer.from('{"id":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    const res = await app.inject({ method: 'POST', url: '/v1/kbs', payload, headers: { 'content-type': 'application/json' } });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error.code, 'invalid_utf8');
  });

  it('rejects malformed JSON with 400 invalid_json', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/kbs',
      payload: '{"id": "x",',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error.code, 'invalid_json');
  });

  it('rejects __proto__ keys with 400 invalid_json', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/kbs/default/documents',
      payload: '{"name":"a","text":"b","metadata":{"__proto__":{"admin":true}}}',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error.code, 'invalid_json');
    assert.equal(({} as Record<string, unknown>).admin, undefined);
  });

  it('rejects a JSON body over the limit with 413 too_large', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/kbs/default/documents',
      payload: { name: 'a.txt', text: 'x'.repeat(5000) },
    });
    assert.equal(res.statusCode, 413);
    assert.equal(res.json().error.code, 'too_large');
  });

  it('rejects an unsupported content type with 415', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/kbs/default/documents',
      payload: 'hello',
      headers: { 'content-type': 'text/plain' },
    });
    assert.equal(res.statusCode, 415);
    assert.equal(res.json().error.code, 'unsupported_media_type');
  });

  it('echoes a valid X-Request-Id, generates one when absent, replaces a hostile one', async () => {
    let res = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'abc.DEF_123-x' } });
    assert.equal(res.headers['x-request-id'], 'abc.DEF_123-x');

    res = await app.inject({ method: 'GET', url: '/healthz' });
    const generated = res.headers['x-request-id'];
    assert.equal(typeof generated, 'string');
    assert.match(String(generated), /^[0-9a-f-]{36}$/);

    for (const hostile of ['a'.repeat(129), 'evil id', '<script>', 'x;rm -rf']) {
      res = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': hostile } });
      assert.notEqual(res.headers['x-request-id'], hostile);
      assert.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    }

    // Errors carry it too.
    res = await app.inject({ method: 'GET', url: '/missing', headers: { 'x-request-id': 'trace-1' } });
    assert.equal(res.headers['x-request-id'], 'trace-1');
  });

  it('hides internal errors behind a generic 500', async () => {
    const { payload, headers } = multipartBody([{ name: 'file', filename: 'boom.txt', value: 'x' }]);
    const res = await app.inject({ method: 'POST', url: '/v1/kbs/default/documents', payload, headers });
    assert.equal(res.statusCode, 500);
    assert.deepEqual(res.json(), { error: { code: 'internal', message: 'internal server error' } });
  });

  it('creates, lists and deletes knowledge bases', async () => {
    let res = await app.inject({ method: 'POST', url: '/v1/kbs', payload: { id: 'team-a', name: 'Team A' } });
    assert.equal(res.statusCode, 201);
    assert.deepEqual(res.json(), {
      id: 'team-a',
      name: 'Team A',
      embedder: 'hash:512',
      embed_dim: 512,
      ocr: 'auto',
      version: 1,
      created_at: NOW,
    });
    res = await app.inject({ method: 'POST', url: '/v1/kbs', payload: { id: 'team-a' } });
    assert.equal(res.statusCode, 409);
    assert.equal(res.json().error.code, 'kb_exists');

    res = await app.inject({ method: 'GET', url: '/v1/kbs' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(
      res.json().kbs.map((k: { id: string }) => k.id),
      ['default', 'team-a'],
    );
    assert.equal(res.json().kbs[0].tenantId, undefined);

    res = await app.inject({ method: 'DELETE', url: '/v1/kbs/team-a' });
    assert.equal(res.statusCode, 204);
    res = await app.inject({ method: 'DELETE', url: '/v1/kbs/default' });
    assert.equal(res.statusCode, 409);
    assert.equal(res.json().error.code, 'kb_protected');
    // A JSON content type with no body (common in clients) is not an error.
    res = await app.inject({ method: 'DELETE', url: '/v1/kbs/nope', headers: { 'content-type': 'application/json' } });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().error.code, 'not_found');
  });

  it('uploads a JSON document', async () => {
    fakes.textCalls.length = 0;
    const res = await app.inject({
      method: 'POST',
      url: '/v1/kbs/default/documents',
      payload: { name: 'notes.md', text: '# hi', metadata: { team: 'a' } },
    });
    assert.equal(res.statusCode, 202);
    assert.deepEqual(res.json(), {
      documents: [{ id: 'doc_text0001', name: 'notes.md', status: 'queued', task_id: 'task_text001', duplicate: false }],
    });
    assert.deepEqual(fakes.textCalls, [
      { scope: { tenantId: 'default', kbId: 'default' }, name: 'notes.md', text: '# hi', metadata: { team: 'a' } },
    ]);
  });

  it('streams two multipart files in order, metadata applying to the files after it', async () => {
    fakes.streamCalls.length = 0;
    const { payload, headers } = multipartBody([
      { name: 'file', filename: 'one.txt', value: 'first file' },
      { name: 'metadata', value: '{"team":"b","n":2}' },
      { name: 'file', filename: '../../etc/two.md', value: '# second' },
    ]);
    const res = await app.inject({ method: 'POST', url: '/v1/kbs/default/documents', payload, headers });
    assert.equal(res.statusCode, 202, res.body);
    assert.equal(res.json().documents.length, 2);
    assert.deepEqual(
      fakes.streamCalls.map((c) => [c.filename, c.content, c.metadata]),
      [
        ['one.txt', 'first file', undefined],
        // busboy already keeps only the base name; making it a safe display name is the service's job.
        ['two.md', '# second', { team: 'b', n: 2 }],
      ],
    );
  });

  it('refuses multipart bodies without files, with stray fields or bad metadata', async () => {
    let m = multipartBody([{ name: 'metadata', value: '{}' }]);
    let res = await app.inject({ method: 'POST', url: '/v1/kbs/default/documents', ...m });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error.code, 'no_files');

    m = multipartBody([{ name: 'colour', value: 'red' }]);
    res = await app.inject({ method: 'POST', url: '/v1/kbs/default/documents', ...m });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().error.message, /colour/);

    m = multipartBody([
      { name: 'metadata', value: '[1,2]' },
      { name: 'file', filename: 'a.txt', value: 'x' },
    ]);
    res = await app.inject({ method: 'POST', url: '/v1/kbs/default/documents', ...m });
    assert.equal(res.statusCode, 400);

    m = multipartBody([
      { name: 'metadata', value: '{nope' },
      { name: 'file', filename: 'a.txt', value: 'x' },
    ]);
    res = await app.inject({ method: 'POST', url: '/v1/kbs/default/documents', ...m });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error.code, 'invalid_json');

    res = await app.inject({
      method: 'POST',
      url: '/v1/kbs/default/documents',
      payload: 'garbage',
      headers: { 'content-type': 'multipart/form-data' },
    });
    assert.equal(res.statusCode, 400);
  });

  it('reports files accepted before a later file failed', async () => {
    fakes.streamCalls.length = 0;
    const m = multipartBody([
      { name: 'file', filename: 'ok.txt', value: 'fine' },
      { name: 'file', filename: 'big.txt', value: 'y'.repeat(200) },
      { name: 'file', filename: 'never.txt', value: 'not reached' },
    ]);
    const res = await app.inject({ method: 'POST', url: '/v1/kbs/default/documents', ...m });
    assert.equal(res.statusCode, 413);
    const body = res.json();
    assert.equal(body.error.code, 'too_large');
    assert.deepEqual(
      body.error.accepted.map((d: UploadedDocument) => d.name),
      ['ok.txt'],
    );
    assert.deepEqual(
      fakes.streamCalls.map((c) => c.filename),
      ['ok.txt'],
    );

    const m2 = multipartBody([
      { name: 'file', filename: 'ok.txt', value: 'fine' },
      { name: 'file', filename: 'tool.exe', value: 'MZ' },
    ]);
    const res2 = await app.inject({ method: 'POST', url: '/v1/kbs/default/documents', ...m2 });
    assert.equal(res2.statusCode, 415);
    assert.equal(res2.json().error.accepted.length, 1);
  });

  it('rejects a single oversized file with 413 and no accepted list', async () => {
    const m = multipartBody([{ name: 'file', filename: 'big.txt', value: 'z'.repeat(65) }]);
    const res = await app.inject({ method: 'POST', url: '/v1/kbs/default/documents', ...m });
    assert.equal(res.statusCode, 413);
    assert.equal(res.json().error.accepted, undefined);
  });

  it('enforces the files-per-request limit with 413', async () => {
    const parts = Array.from({ length: 7 }, (_, i) => ({ name: 'file', filename: `f${i}.txt`, value: 'x' }));
    const res = await app.inject({ method: 'POST', url: '/v1/kbs/default/documents', ...multipartBody(parts) });
    assert.equal(res.statusCode, 413);
    assert.equal(res.json().error.code, 'too_large');
  });

  it('validates and defaults the list query', async () => {
    fakes.listCalls.length = 0;
    let res = await app.inject({ method: 'GET', url: '/v1/kbs/default/documents' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { documents: [], next_cursor: null });
    res = await app.inject({ method: 'GET', url: '/v1/kbs/default/documents?status=ready&limit=5&cursor=abc' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(fakes.listCalls, [{ limit: 100 }, { status: 'ready', limit: 5, cursor: 'abc' }]);

    res = await app.inject({ method: 'GET', url: '/v1/kbs/default/documents?status=done' });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().error.message, /query\.status must be one of/);
    res = await app.inject({ method: 'GET', url: '/v1/kbs/default/documents?limit=0' });
    assert.equal(res.statusCode, 400);
    res = await app.inject({ method: 'GET', url: '/v1/kbs/default/documents?limit=1001' });
    assert.equal(res.statusCode, 400);
  });

  it('returns a document view without internal fields; 404 and id validation', async () => {
    let res = await app.inject({ method: 'GET', url: '/v1/kbs/default/documents/doc_00000001' });
    assert.equal(res.statusCode, 200);
    const doc = res.json();
    assert.equal(doc.id, 'doc_00000001');
    assert.deepEqual(doc.metadata, { team: 'x' });
    assert.equal(doc.blobKey, undefined);
    assert.equal(doc.tenantId, undefined);

    res = await app.inject({ method: 'GET', url: '/v1/kbs/default/documents/doc_99999999' });
    assert.equal(res.statusCode, 404);
    res = await app.inject({ method: 'GET', url: '/v1/kbs/default/documents/short' });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().error.message, /path\.id/);
    res = await app.inject({ method: 'DELETE', url: '/v1/kbs/default/documents/doc_00000001' });
    assert.equal(res.statusCode, 204);
  });

  it('returns a task, and a plain JSON 404 for the events of an unknown task', async () => {
    fakes.tasks.set('task_0000001', taskView('task_0000001', 1));
    let res = await app.inject({ method: 'GET', url: '/v1/tasks/task_0000001' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().version, 1);
    res = await app.inject({ method: 'GET', url: '/v1/tasks/task_unknown1/events' });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().error.code, 'not_found');
    assert.match(String(res.headers['content-type']), /application\/json/);
  });
});

// ---------------------------------------------------------------------------------------------
// Streaming needs a real socket.

interface SseEvent {
  event?: string;
  id?: string;
  data?: string;
}

/** Reads SSE events from a fetch body; yields each as it completes. */
async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent | { comment: string }> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let idx: number;
    while ((idx = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, idx);
      buffer = buffer.slice(idx + 2);
      if (block.startsWith(':')) {
        yield { comment: block.slice(1).trim() };
        continue;
      }
      const ev: SseEvent = {};
      for (const line of block.split('\n')) {
        const [field, ...rest] = line.split(': ');
        const value = rest.join(': ');
        if (field === 'event') ev.event = value;
        else if (field === 'id') ev.id = value;
        else if (field === 'data') ev.data = value;
      }
      yield ev;
    }
  }
}

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

describe('http app (listening server)', () => {
  let fakes: Fakes;
  let app: FastifyInstance;
  let base: string;

  before(async () => {
    fakes = new Fakes();
    app = await buildHttpApp({
      config: testConfig(),
      services: fakes.services(),
      logger: false,
      timing: { readyTimeoutMs: 50, ssePingMs: 40, wsPingMs: 60_000 },
    });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(() => app.close());

  it('SSE: current state first, then changes, then end, then the stream closes', async () => {
    const id = 'task_sse00001';
    fakes.tasks.set(id, taskView(id, 3));
    const res = await fetch(`${base}/v1/tasks/${id}/events`, { headers: { 'x-request-id': 'sse-1' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    assert.equal(res.headers.get('x-accel-buffering'), 'no');
    assert.equal(res.headers.get('x-request-id'), 'sse-1');

    const events: SseEvent[] = [];
    let pings = 0;
    const reader = (async () => {
      for await (const e of readSse(res.body!)) {
        if ('comment' in e) pings++;
        else events.push(e);
      }
    })();

    await tick(100); // long enough for a ping or two
    fakes.pushTask(taskView(id, 2)); // stale: older than the snapshot, must be skipped
    fakes.pushTask(taskView(id, 4));
    await tick();
    fakes.pushTask(taskView(id, 5, 'succeeded'));
    fakes.pushTask(taskView(id, 6, 'failed')); // after the end: never sent
    await reader; // the server closes the stream

    assert.deepEqual(
      events.map((e) => [e.event, e.id]),
      [
        ['task', '3'],
        ['task', '4'],
        ['task', '5'],
        ['end', undefined],
      ],
    );
    assert.equal(JSON.parse(events[0]!.data!).status, 'running');
    assert.equal(JSON.parse(events[2]!.data!).status, 'succeeded');
    assert.deepEqual(JSON.parse(events[3]!.data!), { id, status: 'succeeded' });
    assert.ok(pings >= 1, 'expected a keep-alive ping');
    assert.ok(fakes.unsubscribed.includes(id));
    assert.equal(fakes.taskListeners.get(id)?.size, 0);
  });

  it('SSE: a task that is already finished gets its state and end at once', async () => {
    const id = 'task_done0001';
    fakes.tasks.set(id, taskView(id, 9, 'failed'));
    const res = await fetch(`${base}/v1/tasks/${id}/events`);
    const events: SseEvent[] = [];
    for await (const e of readSse(res.body!)) if (!('comment' in e)) events.push(e);
    assert.deepEqual(
      events.map((e) => e.event),
      ['task', 'end'],
    );
  });

  it('SSE: unsubscribes when the client goes away', async () => {
    const id = 'task_gone0001';
    fakes.tasks.set(id, taskView(id, 1));
    // node:http rather than fetch: an aborted fetch makes undici open a spare keep-alive
    // connection that would hold app.close() for its 4 s idle timeout.
    const req = request(`${base}/v1/tasks/${id}/events`, { agent: false });
    const firstChunk = await new Promise<string>((resolve, reject) => {
      req.on('response', (res) => res.once('data', (chunk: Buffer) => resolve(chunk.toString('utf8'))));
      req.on('error', reject);
      req.end();
    });
    assert.match(firstChunk, /^event: task\n/);
    assert.ok(!fakes.unsubscribed.includes(id));
    req.destroy();
    for (let i = 0; i < 50 && !fakes.unsubscribed.includes(id); i++) await tick(10);
    assert.ok(fakes.unsubscribed.includes(id));
  });

  it('WebSocket: hello, then every task event of the KB; unsubscribes on close', async () => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/kbs/default/events`);
    const messages: Array<{ type: string; kb?: string; task?: TaskView }> = [];
    const gotThree = new Promise<void>((resolve, reject) => {
      ws.on('message', (data) => {
        messages.push(JSON.parse(String(data)));
        if (messages.length === 1) {
          fakes.pushTask(taskView('task_ws000001', 1));
          fakes.pushTask(taskView('task_ws000002', 1, 'succeeded'));
        }
        if (messages.length === 3) resolve();
      });
      ws.on('error', reject);
    });
    await gotThree;
    assert.deepEqual(messages[0], { type: 'hello', kb: 'default' });
    assert.equal(messages[1]!.type, 'task');
    assert.equal(messages[1]!.task!.id, 'task_ws000001');
    assert.equal(messages[2]!.task!.status, 'succeeded');

    const closed = new Promise((r) => ws.on('close', r));
    ws.close();
    await closed;
    for (let i = 0; i < 50 && (fakes.kbListeners.get('default')?.size ?? 0) > 0; i++) await tick(10);
    assert.equal(fakes.kbListeners.get('default')?.size, 0);
  });

  it('WebSocket: an unknown KB closes with 4404', async () => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/kbs/missing/events`);
    const [code, reason] = await new Promise<[number, string]>((resolve, reject) => {
      ws.on('close', (c, r) => resolve([c, String(r)]));
      ws.on('error', reject);
    });
    assert.equal(code, 4404);
    assert.match(reason, /not found/);
  });

  it('close() ends open SSE streams instead of waiting for them', async () => {
    const local = new Fakes();
    const server = await makeApp(local);
    const url = await server.listen({ port: 0, host: '127.0.0.1' });
    local.tasks.set('task_open0001', taskView('task_open0001', 1));
    const res = await fetch(`${url}/v1/tasks/task_open0001/events`);
    const it = readSse(res.body!)[Symbol.asyncIterator]();
    await it.next();
    const started = Date.now();
    await server.close();
    assert.ok(Date.now() - started < 2000);
    // The client sees the end of the stream.
    for (let r = await it.next(); !r.done; r = await it.next());
    assert.ok(local.unsubscribed.includes('task_open0001'));
  });
});

// ---------------------------------------------------------------------------------------------
// The SSE writer's backpressure, against a socket that only drains when told to.

class SlowResponse extends Writable {
  written: string[] = [];
  private held: Array<() => void> = [];
  socket = { setNoDelay() {}, destroyed: false };
  constructor() {
    super({
      highWaterMark: 16,
      write: (chunk: Buffer, _enc, cb) => {
        this.written.push(chunk.toString('utf8'));
        this.held.push(() => cb());
      },
    });
  }
  writeHead() {
    return this;
  }
  flushHeaders() {}
  /** Lets the "socket" accept everything written so far. */
  release() {
    for (const cb of this.held.splice(0)) cb();
  }
}

function fakeReply(res: SlowResponse): FastifyReply {
  const log = { warn() {}, error() {}, debug() {} };
  return { hijack() {}, raw: res, request: { id: 'r1' }, server: { server: {} }, log } as unknown as FastifyReply;
}

describe('openSse backpressure', () => {
  it('writes nothing more until drain, and resolves sends at the client pace', async () => {
    const res = new SlowResponse();
    const sse = openSse(fakeReply(res));
    let resolved = 0;
    const p1 = sse.send('task', { pad: 'x'.repeat(40) }, 1).then(() => resolved++);
    const p2 = sse.send('task', { pad: 'y'.repeat(40) }, 2).then(() => resolved++);
    await tick(5);
    assert.equal(res.written.length, 1, 'second event must wait for drain');
    assert.equal(resolved, 0);

    res.release();
    await p1;
    await tick(5);
    assert.equal(res.written.length, 2);
    res.release();
    await p2;
    assert.equal(resolved, 2);
    assert.match(res.written[0]!, /^event: task\nid: 1\ndata: \{"pad":"x+"\}\n\n$/);

    let closedCalls = 0;
    sse.onClose(() => closedCalls++);
    void sse.comment('bye');
    sse.close();
    res.release();
    await tick(5);
    res.release();
    await tick(5);
    assert.equal(res.written.at(-1), ': bye\n\n');
    assert.equal(sse.closed, true);
    assert.equal(closedCalls, 1);
    assert.equal(res.writableEnded, true);
  });

  it('drops a client that stops reading once too much is queued', async () => {
    const res = new SlowResponse();
    const sse = openSse(fakeReply(res), { maxBufferedBytes: 200 });
    let closedCalls = 0;
    sse.onClose(() => closedCalls++);
    const sends = Array.from({ length: 20 }, (_, i) => sse.send('token', { i, pad: 'z'.repeat(20) }));
    await Promise.all(sends); // all settle, none hang
    assert.equal(sse.closed, true);
    assert.equal(res.destroyed, true);
    assert.equal(closedCalls, 1);
    assert.ok(res.written.length < 20);
    await sse.send('late', {}); // a no-op once closed
  });
});
