import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnServer, type SpawnedServer } from '../support/server.js';
import { memoryOf, streamUpload } from '../support/streamed-upload.js';

const MB = 1024 * 1024;
const UPLOAD_BYTES = 500 * MB;

/** Generated text in 256 KB pieces, each different so the content hash depends on every byte. */
function* textPieces(): Generator<Buffer> {
  const block = Buffer.alloc(256 * 1024);
  for (let i = 0; i < block.length; i++) block[i] = i % 64 === 63 ? 10 : 97 + ((i * 7) % 26);
  for (let n = 0; ; n++) {
    block.write(String(n).padStart(10, '0'), 0, 'latin1');
    yield block;
  }
}

describe('a 500 MB upload streams to disk', () => {
  let server: SpawnedServer;
  before(async () => {
    server = await spawnServer({ RAGD_MAX_UPLOAD_BYTES: String(600 * MB) });
  });
  after(async () => {
    await server.stop();
    await server.cleanup();
  });

  it('does not grow the server by the upload size, and stores exactly one file', async () => {
    const pid = server.child.pid!;
    const before = memoryOf(pid);
    let peakDuring = before.rss;
    const sampler = setInterval(() => {
      peakDuring = Math.max(peakDuring, memoryOf(pid).rss);
    }, 50);
    const res = await streamUpload(server.url, { filename: 'big.txt', contentType: 'text/plain', bytes: UPLOAD_BYTES, pieces: textPieces() });
    clearInterval(sampler);
    assert.equal(res.status, 202, res.body);
    const growth = peakDuring - before.rss;
    assert.ok(growth < 150 * MB, `server RSS grew by ${Math.round(growth / MB)} MB during a ${UPLOAD_BYTES / MB} MB upload`);

    const sources = join(server.dataDir, 'blobs', 'sources', 'default', 'default');
    const files = readdirSync(sources);
    assert.equal(files.length, 1);
    assert.deepEqual(readdirSync(join(server.dataDir, 'tmp')), [], 'no temp file is left behind');
    const doc = JSON.parse(res.body) as { documents: { id: string }[] };
    assert.equal(doc.documents.length, 1);
  });
});
