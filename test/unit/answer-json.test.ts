import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { answerJson } from '../../src/http/routes/answer-json.js';
import { QueryResponse } from '../../src/http/routes/query-schemas.js';
import { AnswerCache, type CachedAnswer, citationsOf, type PackedAnswer } from '../../src/services/query/answer-cache.js';
import { cachedResult, withPacked } from '../../src/services/query/cached-result.js';
import type { QueryResult } from '../../src/services/query/types.js';

/** What the route's schema serializer makes of a result: the reference the body must match. */
async function schemaSerialized(result: unknown): Promise<string> {
  const app = Fastify();
  app.get('/', { schema: { response: { 200: QueryResponse } } }, async () => result);
  const res = await app.inject('/');
  await app.close();
  return res.body;
}

const answerOf = (body: string | Buffer) => (typeof body === 'string' ? body : body.toString('utf8'));

/** An answer as the query service stores it, and read back from the cache. */
function cachedEntry(rerank = false): PackedAnswer {
  const entry: CachedAnswer = {
    answer: 'Water boils at "100 °C" at sea level [1].\nSee also\u2028[2] — ✓',
    answer_kind: 'llm',
    citations: [
      { document_id: 'doc_a', document_name: 'physics "basics".md', chunk_id: 'chk_1', text: 'Boiling\tpoint: 100 °C\\n', score: 0.8734, page: 3 },
      { document_id: 'doc_b', document_name: 'b.txt', chunk_id: 'chk_2', text: 'Emoji 🌊 and \u0001 control', score: 1e-7, page: null },
    ],
    ...(rerank ? { rerank: { applied: false, fallback_reason: 'timeout' } } : {}),
  };
  const cache = new AnswerCache({ maxEntries: 10, maxBytes: 1e6, ttlMs: 60_000 });
  cache.set('k', entry);
  return cache.get('k')!;
}

/** A cache hit's result, as the query service builds it. */
const hit = (entry: PackedAnswer, live: Partial<QueryResult> = {}): QueryResult => {
  const result = cachedResult(entry, { pending_documents: 0, timings_ms: { retrieve: 0, rerank: 0, generate: 0, total: 0.1 } });
  return Object.keys(live).length === 0 ? result : { ...result, ...live };
};

describe('the JSON body of an answer', () => {
  it('is byte for byte what the response schema serializer writes', async () => {
    for (const result of [
      hit(cachedEntry()),
      hit(cachedEntry(true), { pending_documents: 3, notice: '3 documents are "still" being indexed.', timings_ms: { retrieve: 0, rerank: 0, generate: 0, total: 12.5 } }),
      // A fresh answer: not frozen, not cached, timings with fractions, no answer (only_context).
      {
        answer: null,
        answer_kind: null,
        citations: [{ document_id: 'doc_c', document_name: 'c "quoted".md', chunk_id: 'chk_9', text: 'line one\nline "two"\r\n\u2029end', score: 0.016393442622950817, page: null }],
        pending_documents: 1,
        notice: '1 document is still being indexed.',
        cached: false,
        timings_ms: { retrieve: 3.21, rerank: 0, generate: 0, total: 3.87 },
      } satisfies QueryResult,
      // A fresh generated answer with rerank info; the keys of every depth in schema order.
      {
        answer: 'Yes [1].',
        answer_kind: 'llm',
        citations: [{ document_id: 'doc_d', document_name: 'd.pdf', chunk_id: 'chk_4', text: 'café\u0000', score: 0.5, page: 12 }],
        pending_documents: 0,
        cached: false,
        timings_ms: { retrieve: 1, rerank: 250.5, generate: 900.25, total: 1151.75 },
        rerank: { applied: false, fallback_reason: 'timeout' },
      } satisfies QueryResult,
    ]) {
      assert.equal(answerOf(answerJson(result)), await schemaSerialized(result));
    }
  });

  it('writes the live fields of each request around the entry’s fixed JSON', () => {
    const entry = cachedEntry();
    const first = JSON.parse(answerOf(answerJson(hit(entry))));
    const second = JSON.parse(answerOf(answerJson(hit(entry, { pending_documents: 2, notice: 'two pending', timings_ms: { retrieve: 0, rerank: 0, generate: 0, total: 7 } }))));
    assert.equal(first.pending_documents, 0);
    assert.equal(first.notice, undefined);
    assert.equal(second.pending_documents, 2);
    assert.equal(second.notice, 'two pending');
    assert.equal(second.timings_ms.total, 7);
    assert.deepEqual(second.citations, first.citations);
  });

  it('sends a fresh answer that was cached from its entry’s bytes too, exactly as the serializer would', async () => {
    for (const rerank of [false, true]) {
      const stored: CachedAnswer = {
        answer: 'Yes [1].',
        answer_kind: 'llm',
        citations: [{ document_id: 'doc_d', document_name: 'd "q".pdf', chunk_id: 'chk_4', text: 'café\u0000\nline', score: 0.5, page: 12 }],
        ...(rerank ? { rerank: { applied: false, fallback_reason: 'timeout' } } : {}),
      };
      const packed = new AnswerCache({ maxEntries: 10, maxBytes: 1e6, ttlMs: 60_000 }).set('k', stored);
      // As the query service returns it: its own objects (rerank included), the entry beside them.
      const fresh = withPacked(
        {
          ...stored,
          citations: stored.citations.map((c) => ({ ...c })),
          ...(rerank ? { rerank: { applied: false, fallback_reason: 'timeout' } } : {}),
          pending_documents: 2,
          notice: '2 documents are still being indexed.',
          cached: false,
          timings_ms: { retrieve: 3.21, rerank: 0, generate: 900.25, total: 903.87 },
        },
        packed,
      );
      const body = answerJson(fresh);
      assert.ok(Buffer.isBuffer(body), 'the citations are not serialized a second time');
      assert.equal(answerOf(body), await schemaSerialized(fresh));
      assert.equal(JSON.parse(answerOf(body)).cached, false);
    }
  });

  it('never reuses an entry’s JSON for a result with another answer over the same citations', () => {
    const entry = cachedEntry();
    answerJson(hit(entry));
    const other = JSON.parse(answerOf(answerJson(hit(entry, { answer: 'a different answer', answer_kind: 'extractive' }))));
    assert.equal(other.answer, 'a different answer');
    assert.equal(other.answer_kind, 'extractive');
  });

  it('leaves out fields the response schema does not have', () => {
    const entry = cachedEntry();
    const extra = { ...hit(entry), citations: citationsOf(entry).map((c) => ({ ...c, secret: 'x' })), internal: { secret: 'z' } };
    assert.ok(!answerOf(answerJson(extra)).includes('secret'));
    const fresh = { ...extra, cached: false, internal: { secret: 'y' } };
    assert.ok(!answerOf(answerJson(fresh)).includes('secret'));
  });

  it('sends a hit as the entry’s bytes, and decodes its citations only when they are read', () => {
    const entry = cachedEntry();
    const result = hit(entry);
    const body = answerJson(result);
    assert.ok(Buffer.isBuffer(body), 'a hit is written from the packed bytes');
    assert.ok(body.subarray(0, entry.head.length).equals(entry.head));
    // Nothing in the entry is shared with what a caller gets: decoding makes new objects.
    const citations = result.citations;
    assert.equal(citations, result.citations, 'decoded once per result');
    assert.notEqual(citations, hit(entry).citations);
    assert.equal(citations[0]!.document_name, 'physics "basics".md');
    // The entry travels under a symbol key: never in JSON, never in a structured clone.
    assert.ok(!JSON.stringify(result).includes('head'));
    assert.deepEqual(Object.getOwnPropertySymbols(structuredClone({ ...result })), []);
  });
});
