/**
 * Limits hold across the cluster, not once per process: a tenant's requests per minute counted
 * over both API nodes, and a model provider's concurrency cap shared by both API nodes (answers)
 * and both workers (embeddings). The stand-in model server counts the calls it has open at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Cluster, startCluster, withClusterLogs } from '../support/cluster.js';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.js';
import { requestJson } from '../support/server.js';
import { ADMIN_KEY, authed, jsonInit, tenantWithKey, waitKbReady, withAuth } from './auth-support.js';
import { CHUNKING, smallCorpus, uploadRetrying } from './cluster-support.js';

const DIM = 64;
const LLM_CAP = 2;
const EMBED_CAP = 1;

describe('limits across the cluster', { timeout: 600_000 }, () => {
  let fake: FakeOpenAI;
  let cluster: Cluster | undefined;
  const logs = <A extends unknown[]>(fn: (...a: A) => Promise<void>) => withClusterLogs(() => cluster, fn);

  before(async () => {
    fake = await startFakeOpenAI({ embedDim: DIM, answer: 'The answer, from the stand-in model.' });
    cluster = await startCluster({
      apis: 2,
      workers: [[], []],
      env: {
        ...CHUNKING,
        RAGD_ADMIN_KEY: ADMIN_KEY,
        RAGD_EMBED_BASE_URL: fake.url,
        RAGD_EMBED_MODEL: 'fake-embed',
        RAGD_EMBED_DIM: String(DIM),
        RAGD_LLM_BASE_URL: fake.url,
        RAGD_LLM_MODEL: 'fake-chat',
        // Pinned caps (no adaptive limit): each is the provider's, for the whole cluster.
        RAGD_LLM_CONCURRENCY: String(LLM_CAP),
        RAGD_EMBED_CONCURRENCY: String(EMBED_CAP),
        RAGD_LLM_TIMEOUT_MS: '120000',
        RAGD_EMBED_TIMEOUT_MS: '120000',
      },
    });
  });
  after(async () => {
    await cluster?.close();
    await fake?.close();
  });

  test(
    "a tenant's requests per minute are counted over both nodes, not once per node",
    logs(async () => {
      const [a, b] = cluster!.apis;
      const key = await tenantWithKey(a!.url, 'metered');
      const set = await authed(`${a!.url}/v1/admin/tenants/metered/settings`, ADMIN_KEY, jsonInit('PATCH', { limits: { requests_per_minute: 10 } }));
      assert.equal(set.status, 200, JSON.stringify(set.body));
      const statuses: number[] = [];
      for (let i = 0; i < 16; i++) {
        const node = i % 2 === 0 ? a! : b!;
        statuses.push((await authed(`${node.url}/v1/kbs`, key)).status);
      }
      assert.equal(statuses.filter((s) => s === 200).length, 10, `10 requests pass in all, the rest are 429: ${statuses.join(',')}`);
      assert.deepEqual([...new Set(statuses.slice(10))], [429], `once spent, both nodes refuse: ${statuses.join(',')}`);
      // Another tenant is not affected.
      const other = await tenantWithKey(b!.url, 'unmetered');
      assert.equal((await authed(`${a!.url}/v1/kbs`, other)).status, 200);
    }),
  );

  test(
    "a provider's concurrency cap holds across both API nodes (answers) and both workers (embeddings)",
    logs(async () => {
      const [a, b] = cluster!.apis;
      const key = await tenantWithKey(a!.url, 'busy');
      await requestJson(`${a!.url}/v1/kbs`, withAuth(key, jsonInit('POST', { id: 'kb' })));

      // Embeddings: 12 documents through both nodes, embedded by two workers, one call at a time.
      fake.setBehavior({ embeddings: { latencyMs: 150 } });
      fake.resetStats();
      const docs = smallCorpus(12, 77);
      const auth = { authorization: `Bearer ${key}` };
      await Promise.all(docs.map((d, i) => uploadRetrying((i % 2 === 0 ? a! : b!).url, 'kb', d, auth)));
      await waitKbReady(a!.url, key, 'kb', docs.length);
      assert.ok(fake.stats.requests.embeddings >= docs.length, 'every document was embedded by the stand-in');
      assert.ok(fake.stats.maxConcurrent.embeddings <= EMBED_CAP, `at most ${EMBED_CAP} embedding call(s) at once, got ${fake.stats.maxConcurrent.embeddings}`);

      // Answers: 8 different (uncached) questions at once, half on each node, a 1 s model.
      fake.setBehavior({ embeddings: { latencyMs: 0 }, chat: { latencyMs: 1000 } });
      fake.resetStats();
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          authed(`${(i % 2 === 0 ? a! : b!).url}/v1/kbs/kb/query`, key, jsonInit('POST', { query: `document ${i} data system ${i}`, mode: 'lexical' })),
        ),
      );
      for (const r of answers) assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(answers.filter((r) => r.body.answer_kind === 'llm').length, 8, 'every question was answered by the model');
      assert.equal(fake.stats.requests.chat, 8);
      assert.ok(fake.stats.maxConcurrent.chat <= LLM_CAP, `at most ${LLM_CAP} model calls at once over both nodes, got ${fake.stats.maxConcurrent.chat}`);
      assert.equal(fake.stats.maxConcurrent.chat, LLM_CAP, 'the cap was reached (the load was concurrent)');
    }),
  );
});
