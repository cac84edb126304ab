import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fakeModelsEnv, startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import { listDocuments, runRagd, spawnServer, type SpawnedServer, tempDir } from '../support/server.js';

/*
 * `ragd ingest` against a server whose ingestion backlog is far smaller than the folder: the server
 * refuses with 503 + Retry-After, and the CLI waits for room and tries again, so every file ends
 * ready rather than failed.
 */

const FILES = 60;
const BACKLOG = 3;

describe('ragd ingest against a full ingestion backlog', () => {
  let server: SpawnedServer;
  let fake: FakeOpenAI;
  let dir: string;

  before(async () => {
    // Embedding takes 100 ms a call and each stage runs one document at a time, so the pipeline is
    // sure to fall behind the uploads and fill the backlog, however fast the machine is. The server
    // reads its backlog at most every 250 ms (BacklogGuard), so the folder is large enough that its
    // uploads outlast one reading.
    fake = await startFakeOpenAI({ embeddings: { latencyMs: 100 } });
    server = await spawnServer({
      ...fakeModelsEnv(fake.url),
      RAGD_STAGE_CONCURRENCY: '1',
      RAGD_MAX_PIPELINE_BACKLOG: String(BACKLOG),
      RAGD_RETRY_AFTER_SEC: '1',
    });
    dir = join(await tempDir(), 'folder');
    await mkdir(dir);
    for (let i = 0; i < FILES; i++) {
      // Chinese and English, so nothing here depends on spaces between words.
      await writeFile(join(dir, `note-${i}.txt`), `第${i}号仓库在早上七点开门。Warehouse ${i} opens at seven; its code is W${i}-${i * 7}.`);
    }
  });
  after(async () => {
    await server?.stop();
    await server?.cleanup();
    await fake?.close();
  });

  it(`ingests ${FILES} files through a backlog of ${BACKLOG}, every one ready, showing files waiting for room`, async () => {
    const run = await runRagd(['ingest', dir], { RAGD_URL: server.url, RAGD_LOG_LEVEL: 'warn' });
    assert.equal(run.code, 0, run.stderr + run.stdout);
    assert.match(run.stdout, new RegExp(`${FILES} file\\(s\\).*: ${FILES} ready, 0 failed`));
    // The bound was really hit, and the progress said so.
    assert.match(run.stdout, /files waiting for room/);
    const docs = await listDocuments(server.url, 'default');
    assert.equal(docs.length, FILES);
    assert.ok(docs.every((d) => d.status === 'ready'), JSON.stringify(docs.filter((d) => d.status !== 'ready')));
  });
});
