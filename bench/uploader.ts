/**
 * The bulk uploader of bench:query (b) and (e), run as its own process so that generating and
 * sending 20 MB of documents never delays the query load generator's event loop (it would show
 * up as query latency the server did not cause). Uploads over 8 connections, as `ragd ingest`
 * does, and exits when every upload is accepted.
 *
 *   node --import tsx bench/uploader.ts <url> <kb> <bytes> [headers as JSON]
 */
import { postFiles, syntheticCorpus } from '../test/support/server.js';

const [url, kb, bytes, headersJson] = process.argv.slice(2);
if (!url || !kb || !bytes) throw new Error('usage: uploader.ts <url> <kb> <bytes> [headers-json]');
const headers = headersJson ? (JSON.parse(headersJson) as Record<string, string>) : {};
const docs = syntheticCorpus({ seed: 1, totalBytes: Number(bytes), minBytes: 5 * 1024, maxBytes: 500 * 1024 });
const it = docs[Symbol.iterator]();
await Promise.all(
  Array.from({ length: 8 }, async () => {
    for (let n = it.next(); !n.done; n = it.next()) {
      const r = await postFiles(url, kb, [{ name: n.value.name, bytes: Buffer.from(n.value.text) }], headers);
      if (r.status !== 202) throw new Error(`upload ${n.value.name}: HTTP ${r.status}`);
    }
  }),
);
