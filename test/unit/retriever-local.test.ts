import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Embedder, EmbedderResolver } from '../../src/ports/models.js';
import type { ChunkHit, KbRecord, Store } from '../../src/ports/store.js';
import { EmbeddingCache } from '../../src/services/query/embedding-cache.js';
import { type LocalSearchRequest, Retriever } from '../../src/services/query/retrieval.js';

/**
 * With a local index, a hybrid question is one search-pool task whatever the embedder: a remote
 * embedder's vector is fetched first and handed to that task, and the store's two separate
 * searches (two thread hand-offs, two hydrations) are not used.
 */

const kb: KbRecord = { tenantId: 't', id: 'kb', name: 'kb', embedder: 'openai:remote', embedDim: 3, ocr: 'off', version: 1, createdAt: '2026-01-01T00:00:00.000Z' };
const hit: ChunkHit = { chunkId: 'c1', documentId: 'd1', documentName: 'n', ordinal: 0, text: '水的沸点', headingPath: [], page: null, score: 1 };

function setup(embedderId: string) {
  const embedCalls: string[][] = [];
  const embedder: Embedder = {
    id: embedderId,
    dim: 3,
    embed: async (texts) => {
      embedCalls.push(texts);
      return texts.map(() => Float32Array.of(1, 2, 3));
    },
  };
  const resolver: EmbedderResolver = { forTenant: async () => embedder, forKb: async () => embedder };
  const storeSearches: string[] = [];
  const store = {
    searchLexical: async () => (storeSearches.push('lexical'), []),
    searchVector: async () => (storeSearches.push('vector'), []),
  } as unknown as Store;
  const localCalls: LocalSearchRequest[] = [];
  const local = async (r: LocalSearchRequest) => {
    localCalls.push(r);
    return { vector: r.vector ?? Float32Array.of(9, 9, 9), hits: [hit] };
  };
  const cache = new EmbeddingCache({ maxEntries: 10, maxBytes: 1 << 20, ttlMs: 60_000 });
  const retriever = new Retriever(store, cache, resolver, local);
  return { retriever, embedCalls, storeSearches, localCalls };
}

describe('Retriever over a local index', () => {
  it('answers hybrid with a remote embedder in one local task carrying the fetched vector', async () => {
    const { retriever, embedCalls, storeSearches, localCalls } = setup('openai:remote');
    const out = await retriever.retrieve({ scope: { tenantId: 't', kbId: 'kb' }, kb, query: '水的沸点是多少', mode: 'hybrid', depth: 5 });
    assert.deepEqual(out.hits, [hit]);
    assert.equal(embedCalls.length, 1);
    assert.equal(localCalls.length, 1);
    assert.deepEqual([...localCalls[0]!.vector!], [1, 2, 3]);
    assert.equal(localCalls[0]!.lexicalQuery, '水的沸点是多少');
    assert.deepEqual(storeSearches, []);
    // The same question again: the cached vector, no second embedding call.
    await retriever.retrieve({ scope: { tenantId: 't', kbId: 'kb' }, kb, query: '水的沸点是多少', mode: 'vector', depth: 5 });
    assert.equal(embedCalls.length, 1);
    assert.equal(localCalls[1]!.lexicalQuery, undefined);
  });

  it('lets the task hash-embed for the hash embedder, and remembers the vector it sends back', async () => {
    const { retriever, embedCalls, localCalls } = setup('hash:3');
    await retriever.retrieve({ scope: { tenantId: 't', kbId: 'kb' }, kb: { ...kb, embedder: 'hash:3' }, query: 'boiling point', mode: 'hybrid', depth: 5 });
    assert.equal(embedCalls.length, 0);
    assert.equal(localCalls[0]!.vector, undefined);
    await retriever.retrieve({ scope: { tenantId: 't', kbId: 'kb' }, kb: { ...kb, embedder: 'hash:3' }, query: 'boiling point', mode: 'hybrid', depth: 5 });
    assert.deepEqual([...localCalls[1]!.vector!], [9, 9, 9]);
  });
});
