/**
 * Issue 16 item 7 and a Low item: only complete model answers are cached. A stream that ends
 * without a finish reason, or an empty answer, is shown but not stored; a body that is not JSON
 * is a 502 provider_error, not a 500.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FakeOpenAI } from '../support/fake-openai.js';
import type { TestServer } from '../support/server.js';
import { postJson, startLlmServer, streamEvents } from './query-support.js';

describe('model answers that are not complete', { timeout: 120_000 }, () => {
  let fake: FakeOpenAI;
  let server: TestServer;
  before(async () => {
    ({ fake, server } = await startLlmServer('kb', 'The guest network is Zebrafish Guest [1].'));
  });
  after(async () => {
    await server?.close();
    await fake?.close();
  });

  const ask = (query: string) => postJson(`${server.url}/v1/kbs/kb/query`, { query });

  test('a stream cut short (no finish reason, no [DONE]) is not cached', async () => {
    fake.setBehavior({ malformedNext: { kind: 'truncated', count: 1 } });
    const events = await streamEvents(server.url, 'kb', { query: 'what is the guest network? 访客网络' });
    assert.ok(events.some((e) => e.event === 'token'));
    const again = await ask('what is the guest network? 访客网络');
    assert.equal(again.status, 200);
    assert.equal(again.body.cached, false, 'the truncated answer must not come back from the cache');
    const third = await ask('what is the guest network? 访客网络');
    assert.equal(third.body.cached, true, 'a complete answer is cached as before');
  });

  test('a plain answer without a finish reason is not cached', async () => {
    fake.setBehavior({ malformedNext: { kind: 'truncated', count: 1 } });
    assert.equal((await ask('guest network name, plain')).body.cached, false);
    assert.equal((await ask('guest network name, plain')).body.cached, false);
  });

  test('an empty answer is not cached', async () => {
    fake.setBehavior({ answer: '' });
    assert.equal((await ask('an empty one')).status, 200);
    fake.setBehavior({ answer: 'The guest network is Zebrafish Guest [1].' });
    const again = await ask('an empty one');
    assert.equal(again.body.cached, false);
    assert.match(again.body.answer, /Zebrafish/);
  });

  test('garbage JSON from the model is 502 provider_error', async () => {
    fake.setBehavior({ malformedNext: { kind: 'garbage', count: 10 } });
    const res = await ask('garbage please');
    assert.equal(res.status, 502, JSON.stringify(res.body));
    assert.equal(res.body.error.code, 'provider_error');
    assert.doesNotMatch(res.body.error.message, /garbage/, 'the upstream body is not echoed');
    fake.setBehavior({ malformedNext: null });
  });
});
