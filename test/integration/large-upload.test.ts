import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawnServer, type SpawnedServer } from '../support/server.js';

const MB = 1024 * 1024;
const UPLOAD_BYTES = 500 * MB;

/** Peak and current resident memory of a process, from /proc (Linux). */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Streams a multipart upload of `bytes` generated text without ever holding it in memory. */
function streamUpload(url: string, bytes: number, filename: string): Promise<{ status: number; body: string }> {
  const boundary = `----ragd${Date.now()}`;
  const head = Buffer.from(
    `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${filename}"\r\ncontent-type: text/plain\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const block = Buffer.alloc(256 * 1024);
  for (let i = 0; i < block.length; i++) block[i] = i % 64 === 63 ? 10 : 97 + ((i * 7) % 26);
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/kbs/default/documents`, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': head.length + bytes + tail.length },
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    let sent = 0;
    const pump = () => {
      while (sent < bytes) {
        const n = Math.min(block.length, bytes - sent);
        // Vary each block so the content hash really depends on every byte.
        block.write(String(sent / block.length).padStart(10, '0'), 0, 'latin1');
        sent += n;
        if (!req.write(n === block.length ? block : block.subarray(0, n))) return void req.once('drain', pump);
      }
      req.end(tail);
    };
    req.write(head);
    pump();
  });
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
    const res = await streamUpload(server.url, UPLOAD_BYTES, 'big.txt');
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
