/**
 * The bulk uploader of bench:query (b) and (e), run as its own process so that sending 20 MB of
 * documents never delays the query load generator's event loop (it would show up as query
 * latency the server did not cause).
 *
 * It stands for clients on other machines, yet here it shares the server's two cores. So all of
 * its own work (starting up, generating the corpus, encoding each multipart body) happens before
 * the measured window: it prints `ready` when every body is built and starts posting when it
 * reads `go` on stdin. What is left inside the window is what a remote client costs this machine:
 * writing bytes to a socket. Uploads go over 8 connections, as `ragd ingest` does, as fast as
 * ragd takes them; it exits when every upload is accepted.
 *
 *   node --import tsx bench/uploader.ts <url> <kb> <bytes> [headers as JSON]
 */
import { Agent, request } from 'node:http';
import { once } from 'node:events';
import { syntheticCorpus } from '../test/support/server.js';

const [url, kb, bytes, headersJson] = process.argv.slice(2);
if (!url || !kb || !bytes) throw new Error('usage: uploader.ts <url> <kb> <bytes> [headers-json]');
const headers = headersJson ? (JSON.parse(headersJson) as Record<string, string>) : {};
const CONNECTIONS = 8;
const BOUNDARY = 'ragd-bench-uploader-boundary';

/** One document as a complete multipart/form-data body with a single `file` part. */
function multipartBody(name: string, text: string): Buffer {
  const head = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`;
  return Buffer.concat([Buffer.from(head), Buffer.from(text), Buffer.from(`\r\n--${BOUNDARY}--\r\n`)]);
}

const bodies = [...syntheticCorpus({ seed: 1, totalBytes: Number(bytes), minBytes: 5 * 1024, maxBytes: 500 * 1024 })].map((d) => ({
  name: d.name,
  body: multipartBody(d.name, d.text),
}));
const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
const target = new URL(`/v1/kbs/${encodeURIComponent(kb)}/documents`, url);

function post(doc: { name: string; body: Buffer }): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: 'POST',
        agent,
        headers: { ...headers, 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'content-length': doc.body.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 202 ? resolve() : reject(new Error(`upload ${doc.name}: HTTP ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end(doc.body);
  });
}

process.stdout.write('ready\n');
// The bench says go; if it dies first, stdin closes and the uploader leaves without uploading.
const bail = () => process.exit(1);
process.stdin.once('end', bail);
await once(process.stdin, 'data');
process.stdin.off('end', bail);

const queue = bodies[Symbol.iterator]();
await Promise.all(
  Array.from({ length: CONNECTIONS }, async () => {
    for (let n = queue.next(); !n.done; n = queue.next()) await post(n.value);
  }),
);
agent.destroy();
process.exit(0);
