import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Embedder } from '../../src/ports/models.js';
import { QuestionBatcher } from '../../src/services/query/question-batcher.js';

/** An embedder whose calls wait until released; each vector's first component is its text's length. */
function heldEmbedder(refuse: (text: string) => boolean = () => false) {
  const calls: { texts: string[]; release: () => void }[] = [];
  const embedder: Embedder = {
    id: 'remote:test',
    dim: 2,
    embed: (texts) =>
      new Promise((resolve, reject) => {
        calls.push({
          texts,
          release: () => (texts.some(refuse) ? reject(new Error('400 input too long')) : resolve(texts.map((t) => Float32Array.of(t.length, 0)))),
        });
      }),
  };
  return { embedder, calls };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('QuestionBatcher', () => {
  it('sends a lone question at once, in a call of its own', async () => {
    const { embedder, calls } = heldEmbedder();
    const batcher = new QuestionBatcher({ maxInFlight: 2, maxBatch: 64 });
    const v = batcher.embed(embedder, 'one');
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]!.texts, ['one']);
    calls[0]!.release();
    assert.equal((await v)[0], 3);
  });

  it('lets questions that arrive while the calls are busy share the next calls, at most maxBatch each', async () => {
    const { embedder, calls } = heldEmbedder();
    const batcher = new QuestionBatcher({ maxInFlight: 1, maxBatch: 3 });
    const texts = ['a', 'bb', 'ccc', 'dddd', 'eeeee', 'ffffff'];
    const answers = texts.map((t) => batcher.embed(embedder, t));
    assert.deepEqual(calls.map((c) => c.texts), [['a']]);
    calls[0]!.release();
    await tick();
    assert.deepEqual(calls.map((c) => c.texts), [['a'], ['bb', 'ccc', 'dddd']]);
    calls[1]!.release();
    await tick();
    assert.deepEqual(calls[2]!.texts, ['eeeee', 'ffffff']);
    calls[2]!.release();
    // Every asker gets the vector of its own text.
    assert.deepEqual((await Promise.all(answers)).map((v) => v[0]), [1, 2, 3, 4, 5, 6]);
  });

  it('asks each question alone when a shared call fails, so one bad question fails only its asker', async () => {
    const { embedder, calls } = heldEmbedder((t) => t.length > 10);
    const batcher = new QuestionBatcher({ maxInFlight: 1, maxBatch: 64 });
    const first = batcher.embed(embedder, 'first');
    const good = batcher.embed(embedder, 'good');
    const bad = batcher.embed(embedder, 'far too long a question');
    calls[0]!.release();
    await first;
    await tick();
    assert.deepEqual(calls[1]!.texts, ['good', 'far too long a question']);
    calls[1]!.release();
    await tick();
    assert.deepEqual(calls.slice(2).map((c) => c.texts), [['good'], ['far too long a question']]);
    calls[2]!.release();
    calls[3]!.release();
    assert.equal((await good)[0], 4);
    await assert.rejects(bad, /input too long/);
  });

  it('keeps embedders apart: a tenant provider\'s questions never ride in the server embedder\'s call', async () => {
    const server = heldEmbedder();
    const tenant = heldEmbedder();
    const tenantEmbedder = { ...tenant.embedder, id: 'remote:tenant' };
    const batcher = new QuestionBatcher({ maxInFlight: 1, maxBatch: 64 });
    void batcher.embed(server.embedder, 's1');
    void batcher.embed(tenantEmbedder, 't1');
    assert.equal(server.calls.length, 1);
    assert.equal(tenant.calls.length, 1);
    server.calls[0]!.release();
    tenant.calls[0]!.release();
  });
});
