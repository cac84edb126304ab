/**
 * A model provider's caps shared across the cluster: two provider lanes in this process stand in
 * for two processes (each has its own queue and local cap, and its own Redis connection), both
 * calling the stand-in model server, which counts the calls it has open at once.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { RedisLeases } from '../../src/adapters/cluster/redis/redis-leases.js';
import { redisProviderCaps } from '../../src/adapters/cluster/redis/redis-provider-caps.js';
import { AppError } from '../../src/domain/errors.js';
import type { SharedProviderCap } from '../../src/ports/limits.js';
import { ProviderLane } from '../../src/providers/lane.js';
import { OpenAIEmbedder } from '../../src/providers/openai-embedder.js';
import { sharedCapKey } from '../../src/providers/shared-slot.js';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.js';
import { deleteKeys, RedisProxy, testPrefix, testRedis } from '../support/redis.js';

const DIM = 8;

describe('a provider\'s caps shared by two processes through Redis', () => {
  const prefix = testPrefix('provider-caps');
  let fake: FakeOpenAI;
  let conns: Redis[];
  let leases: RedisLeases[];
  const lanes: ProviderLane[] = [];

  before(async () => {
    fake = await startFakeOpenAI({ embedDim: DIM, embeddings: { latencyMs: 150 } });
    conns = [await testRedis(), await testRedis()];
    leases = conns.map((redis) => new RedisLeases({ redis, prefix }));
  });
  after(async () => {
    await Promise.all(lanes.map((l) => l.close()));
    await Promise.all(leases.map((l) => l.close()));
    await deleteKeys(conns[0]!, prefix);
    await Promise.all(conns.map((c) => c.quit()));
    await fake.close();
  });

  /** One "process": its own lane (local cap `concurrency`) and embedder, optionally under a shared cap. */
  function embedder(concurrency: number, shared?: SharedProviderCap): OpenAIEmbedder {
    const lane = new ProviderLane({
      name: 'embed',
      concurrency,
      timeoutMs: 10_000,
      maxRetries: 0,
      backoffBaseMs: 10,
      breaker: { errorThresholdPercentage: 50, volumeThreshold: 1_000, resetTimeoutMs: 1_000 },
      ...(shared ? { shared } : {}),
    });
    lanes.push(lane);
    return new OpenAIEmbedder({ baseURL: fake.url, model: 'm', dim: DIM, lane, batchSize: 1, encodingFormat: 'float' });
  }

  /** Sends `n` single-text requests from each embedder at once and waits for all. */
  async function burst(embedders: OpenAIEmbedder[], n: number): Promise<void> {
    await Promise.all(embedders.flatMap((e, i) => Array.from({ length: n }, (_, j) => e.embed([`text ${i} ${j}`], { priority: 'bulk' }))));
  }

  it('without a shared cap, two processes with a cap of 3 each reach 6 at once (what the shared cap prevents)', async () => {
    fake.resetStats();
    await burst([embedder(3), embedder(3)], 8);
    assert.equal(fake.stats.requests.embeddings, 16);
    assert.equal(fake.stats.maxConcurrent.embeddings, 6);
  });

  it('with a cap of 3 shared through Redis, the provider never sees more than 3 at once, and every call completes', async () => {
    fake.resetStats();
    const key = `embed-${randomUUID()}`;
    const caps = leases.map((l) => redisProviderCaps(l)({ key, concurrency: 3, requestsPerMinute: 0 }));
    await burst([embedder(3, caps[0]), embedder(3, caps[1])], 8);
    assert.equal(fake.stats.requests.embeddings, 16);
    assert.equal(fake.stats.maxConcurrent.embeddings, 3);
    assert.equal(await leases[0]!.count(`provider:${key}`), 0, 'every slot was given back');
  });

  it('spends one requests-per-minute budget from both processes', async () => {
    fake.resetStats();
    const key = `embed-${randomUUID()}`;
    // A budget of 4 a minute: the bucket holds 4 now, the next token is 15 s away.
    const caps = leases.map((l) => redisProviderCaps(l)({ key, concurrency: 10, requestsPerMinute: 4 }));
    const [a, b] = [embedder(10, caps[0]), embedder(10, caps[1])];
    const stop = new AbortController();
    const calls = [a, b].flatMap((e, i) => [0, 1, 2].map((j) => e.embed([`t ${i} ${j}`], { priority: 'bulk', signal: stop.signal }).then(() => 'done', (err: Error) => err.name)));
    const deadline = Date.now() + 5_000;
    while (fake.stats.requests.embeddings < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(fake.stats.requests.embeddings, 4, 'four of six reached the provider, two wait for the next token');
    stop.abort();
    const outcomes = await Promise.all(calls);
    assert.equal(outcomes.filter((o) => o === 'done').length, 4);
    assert.equal(outcomes.filter((o) => o === 'AbortError').length, 2, 'the waiting calls leave when their caller aborts');
  });

  it('a call waiting for the shared cap leaves when its lane closes, and takes nothing', async () => {
    const key = `embed-${randomUUID()}`;
    const hog = await leases[0]!.take(`provider:${key}`, 1);
    assert.ok('release' in hog, 'the only slot is held elsewhere');
    const cap = redisProviderCaps(leases[1]!)({ key, concurrency: 1, requestsPerMinute: 0 });
    const e = embedder(2, cap);
    const lane = lanes.at(-1)!;
    fake.resetStats();
    const waiting = e.embed(['x'], { priority: 'bulk' }).then(() => 'done', (err: Error) => err.name);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(lane.stats().inFlight, 1, 'it holds the lane\'s own slot while it waits');
    await lane.close();
    assert.equal(await waiting, 'ProviderUnavailableError');
    assert.equal(fake.stats.requests.embeddings, 0);
    assert.equal(lane.stats().inFlight, 0);
    hog.release();
  });

  it('keys a shared cap by endpoint, model and account, without the API key in clear', () => {
    const base = { kind: 'embed', baseUrl: 'https://api.example/v1', model: 'm' };
    const k1 = sharedCapKey({ ...base, apiKey: 'sk-secret-one' });
    assert.equal(k1, sharedCapKey({ ...base, apiKey: 'sk-secret-one' }), 'the same on every node');
    assert.notEqual(k1, sharedCapKey({ ...base, apiKey: 'sk-secret-two' }));
    assert.notEqual(k1, sharedCapKey({ ...base, model: 'other', apiKey: 'sk-secret-one' }));
    assert.ok(!k1.includes('secret'));
  });

  it('fails a call at once with a 503 when the shared cap cannot reach Redis, and frees the lane\'s own slot', async () => {
    const proxy = await RedisProxy.start();
    const cut = await testRedis({ commandTimeoutMs: 300 }, proxy.url);
    const cutLeases = new RedisLeases({ redis: cut, prefix });
    try {
      const cap = redisProviderCaps(cutLeases)({ key: `embed-${randomUUID()}`, concurrency: 2, requestsPerMinute: 0 });
      const e = embedder(1, cap);
      await proxy.cut();
      for (let i = 0; i < 2; i++) {
        await assert.rejects(e.embed(['x'], { priority: 'interactive' }), (err: unknown) => {
          assert.ok(err instanceof AppError);
          assert.equal(err.status, 503);
          assert.equal(err.code, 'shared_state_unavailable');
          return true;
        });
      }
      assert.equal(lanes.at(-1)!.stats().inFlight, 0);
    } finally {
      await cutLeases.close();
      cut.disconnect();
      await proxy.cut();
    }
  });
});
