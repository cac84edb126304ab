import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FakeOpenAI } from '../support/fake-openai.js';
import { runRagd, type TestServer } from '../support/server.js';
import { startLlmServer } from './query-support.js';

/* `ragd query --stream` as a user runs it: a child process talking to a real server over HTTP. */

const ANSWER = 'Uhuru Peak rises 5,895 metres above sea level [1].';

const ragdQuery = (args: string[]) => runRagd(['query', ...args]);

describe('ragd query --stream', () => {
  let fake: FakeOpenAI;
  let server: TestServer;

  before(async () => {
    ({ fake, server } = await startLlmServer('cli', ANSWER));
    fake.setBehavior({ tokenDelayMs: 10 });
  });
  after(async () => {
    await server?.close();
    await fake?.close();
  });

  it('prints the streamed answer, then the numbered citations', async () => {
    const requests = fake.stats.requests.chat;
    const r = await ragdQuery(['How high is Uhuru Peak?', '--kb', 'cli', '--mode', 'lexical', '--stream', '--url', server.url]);
    assert.equal(r.code, 0, r.stderr);
    const answerAt = r.stdout.indexOf(ANSWER);
    const citationAt = r.stdout.indexOf('[1] volcano.txt');
    assert.ok(answerAt >= 0, r.stdout);
    assert.ok(citationAt > answerAt, `the sources follow the answer:\n${r.stdout}`);
    assert.match(r.stdout, /5,895 metres/);
    assert.equal(fake.stats.requests.chat, requests + 1, 'one model call, streamed');
    const body = fake.stats.bodies.filter((b) => b.route === 'chat').at(-1)?.body as { stream?: boolean };
    assert.equal(body.stream, true);
  });

  it('reports a server error on stderr with a non-zero exit', async () => {
    const r = await ragdQuery(['anything', '--kb', 'missing-kb', '--stream', '--url', server.url]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not_found/);
  });
});
