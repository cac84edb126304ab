import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ProviderLane } from '../../src/providers/lane.js';
import { OpenAIEmbedder } from '../../src/providers/openai-embedder.js';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.js';

/**
 * The adaptive lane limit against the stand-in model server over real HTTP: a provider that starts
 * answering 429 above N requests in flight is found out and the lane settles near N; a provider
 * without such a limit is not held back.
 */

const MAX = 64;

function embedderFor(fake: FakeOpenAI): { lane: ProviderLane; embedder: OpenAIEmbedder } {
  const lane = new ProviderLane({
    name: 'embed',
    concurrency: MAX,
    adaptive: { min: 1, max: MAX },
    timeoutMs: 10_000,
    maxRetries: 20,
    backoffBaseMs: 20,
    backoffMaxMs: 200,
    breaker: { errorThresholdPercentage: 50, volumeThreshold: 1_000, resetTimeoutMs: 1_000 },
  });
  return { lane, embedder: new OpenAIEmbedder({ lane, baseURL: fake.url, apiKey: 'k', model: 'fake-embed', dim: 16 }) };
}

/** `workers` callers, each embedding one text after another until `calls` have been made in all. */
async function offer(embedder: OpenAIEmbedder, workers: number, calls: number, onCall?: (i: number) => void): Promise<number> {
  let next = 0;
  let ok = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < calls) {
        const i = next++;
        onCall?.(i);
        const [v] = await embedder.embed([`text ${i}`], { priority: 'bulk' });
        if (v?.length === 16) ok++;
      }
    }),
  );
  return ok;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('adaptive lane concurrency against the stand-in server', () => {
  let fake: FakeOpenAI;
  before(async () => {
    fake = await startFakeOpenAI({ embedDim: 16 });
  });
  after(() => fake.close());

  it('settles near a provider that answers 429 above N in flight, and every call still succeeds', async (t) => {
    const N = 8;
    fake.setBehavior({ embeddings: { latencyMs: 40, maxInFlight: N } });
    fake.resetStats();
    const { lane, embedder } = embedderFor(fake);
    t.after(() => lane.close());

    const calls = 400;
    const limits: number[] = [];
    let overloadedAtHalf = 0;
    let requestsAtHalf = 0;
    const ok = await offer(embedder, 4 * N, calls, (i) => {
      if (i === calls / 2) {
        overloadedAtHalf = fake.stats.overloaded.embeddings;
        requestsAtHalf = fake.stats.requests.embeddings;
      }
      if (i > calls / 2) limits.push(lane.stats().limit);
    });

    assert.equal(ok, calls, 'every call ends with its vector (429s are retried)');
    assert.ok(fake.stats.overloaded.embeddings > 0, 'the provider did push back');
    // Over the second half the lane sits near N, and the provider rarely needs to refuse.
    const settled = median(limits);
    assert.ok(settled >= N / 2 && settled <= N * 1.5, `settled limit ${settled}, expected near ${N}`);
    const lateRefused = fake.stats.overloaded.embeddings - overloadedAtHalf;
    const lateRequests = fake.stats.requests.embeddings - requestsAtHalf;
    assert.ok(lateRefused / lateRequests < 0.25, `${lateRefused} of ${lateRequests} late requests refused`);
  });

  it('is not held back by a provider without a limit', async (t) => {
    fake.setBehavior({ embeddings: { latencyMs: 100, maxInFlight: null } });
    fake.resetStats();
    const { lane, embedder } = embedderFor(fake);
    t.after(() => lane.close());

    const ok = await offer(embedder, MAX, MAX * 6);
    assert.equal(ok, MAX * 6);
    assert.equal(fake.stats.failed.embeddings, 0);
    assert.ok(fake.stats.maxConcurrent.embeddings >= MAX * 0.75, `at most ${fake.stats.maxConcurrent.embeddings} at once of ${MAX} offered`);
    assert.ok(lane.stats().limit >= MAX * 0.75, `limit fell to ${lane.stats().limit}`);
  });
});
