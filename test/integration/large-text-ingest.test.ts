/**
 * A large log, a large CSV export and a large JSON Lines file go through parse, chunk, embed and
 * index in bounded memory: the server's RSS, sampled all along, grows by a bound that does not
 * depend on the file's size, each reaches `ready`, and a line from the middle of each is found by
 * a question, in English and in Chinese.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, spawnServer, waitReady, type SpawnedServer } from '../support/server.js';
import { memoryOf, streamUpload } from '../support/streamed-upload.js';

const MB = 1024 * 1024;
const LOG_BYTES = 64 * MB;
const CSV_BYTES = 8 * MB;
const JSONL_BYTES = 32 * MB;
/** Measured: 57-73 MB for 8, 16, 48 and 64 MB files alike (upload buffers, SQLite page caches). */
const MAX_GROWTH = 120 * MB;

/**
 * Exactly `bytes` of generated lines in ~256 KB pieces; `marker` is the line at the middle. The
 * last piece ends at a line break and is padded with blank lines, so no record is cut in two.
 */
function* linePieces(bytes: number, line: (n: number) => string, marker: string): Generator<Buffer> {
  let n = 0;
  let sent = 0;
  let markerSent = false;
  while (sent < bytes) {
    let text = '';
    while (text.length < 256 * 1024) text += `${line(n++)}\n`;
    if (!markerSent && sent >= bytes / 2) {
      text = `${marker}\n${text}`;
      markerSent = true;
    }
    let piece = Buffer.from(text);
    if (sent + piece.length > bytes) {
      const whole = piece.subarray(0, piece.lastIndexOf(0x0a, bytes - sent - 1) + 1);
      piece = Buffer.concat([whole, Buffer.alloc(bytes - sent - whole.length, 0x0a)]);
    }
    sent += piece.length;
    yield piece;
  }
}

const logLine = (n: number) =>
  `2026-12-07T03:${String(Math.floor(n / 60) % 60).padStart(2, '0')}:${String(n % 60).padStart(2, '0')}Z INFO http request id=${n} ` +
  `path=/api/items/${(n * 7919) % 100_000} status=${n % 13 === 0 ? 404 : 200} took=${n % 997}ms user=u${n % 1234}`;
const jsonLine = (n: number) =>
  JSON.stringify({ ts: `2026-12-07T04:${String(n % 60).padStart(2, '0')}:00Z`, level: n % 13 === 0 ? 'warn' : 'info', id: n, user: { id: `u${n % 1234}`, city: `城市 ${n % 300}` }, msg: `订单 ${n} 已发货 order shipped` });
const csvLine = (n: number) => (n === 0 ? 'id,city,amount,comment' : `${n},city ${n % 300},${(n * 31) % 10_000},order number ${n} shipped`);

describe('large text files ingest in bounded memory', { timeout: 600_000 }, () => {
  let server: SpawnedServer;
  before(async () => {
    server = await spawnServer({ RAGD_MAX_UPLOAD_BYTES: String(128 * MB) });
    // A small log and CSV first: worker threads, parsers and SQLite caches start up, and that
    // one-time growth is not what is measured.
    const ids: string[] = [];
    const warm = [['warm.log', 'text/plain', logLine], ['warm.csv', 'text/csv', csvLine], ['warm.jsonl', 'application/x-ndjson', jsonLine]] as const;
    for (const [name, type, line] of warm) {
      // A JSON Lines marker must be a record too.
      const marker = name.endsWith('.jsonl') ? '"warm"' : 'warm';
      const res = await streamUpload(server.url, { filename: name, contentType: type, bytes: 2 * MB, pieces: linePieces(2 * MB, line, marker) });
      ids.push((JSON.parse(res.body) as { documents: { id: string }[] }).documents[0]!.id);
    }
    await waitReady(server.url, 'default', ids, { timeoutMs: 120_000 });
  });
  after(async () => {
    await server.stop();
    await server.cleanup();
  });

  for (const t of [
    { name: 'server.log', type: 'text/plain', bytes: LOG_BYTES, line: logLine, marker: 'ERROR quokka reactor overheated in zone 七', queries: ['quokka reactor overheated'] },
    { name: 'orders.csv', type: 'text/csv', bytes: CSV_BYTES, line: csvLine, marker: '999999999,wombat harbour,1,platypus delivery refused', queries: ['platypus delivery refused'] },
    {
      name: 'events.jsonl',
      type: 'application/x-ndjson',
      bytes: JSONL_BYTES,
      line: jsonLine,
      marker: JSON.stringify({ level: 'error', msg: 'numbat turbine jammed at the quay', 说明: '袋食蚁兽的涡轮机在码头卡住了' }),
      queries: ['numbat turbine jammed', '袋食蚁兽的涡轮机'],
    },
  ]) {
    it(`${t.name} (${t.bytes / MB} MB): ready, searchable, RSS growth bounded whatever the size`, async () => {
      const pid = server.child.pid!;
      const before = memoryOf(pid).rss;
      let peak = before;
      let uploadPeak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, memoryOf(pid).rss)), 100);
      try {
        const res = await streamUpload(server.url, { filename: t.name, contentType: t.type, bytes: t.bytes, pieces: linePieces(t.bytes, t.line, t.marker) });
        assert.equal(res.status, 202, res.body);
        uploadPeak = peak;
        peak = memoryOf(pid).rss;
        const id = (JSON.parse(res.body) as { documents: { id: string }[] }).documents[0]!.id;
        const [doc] = await waitReady(server.url, 'default', [id], { timeoutMs: 540_000 });
        assert.ok((doc as { chunks?: number }).chunks! > 1000, `${t.name} gave ${(doc as { chunks?: number }).chunks} chunks`);
      } finally {
        clearInterval(sampler);
      }
      const growth = peak - before;
      console.log(`${t.name}: RSS grew by ${Math.round(growth / MB)} MB (upload ${Math.round((uploadPeak - before) / MB)} MB)`);
      // A bound that does not grow with the file: parsed whole, a 64 MB log took the server past 1 GB.
      assert.ok(growth < MAX_GROWTH, `server RSS grew by ${Math.round(growth / MB)} MB for a ${t.bytes / MB} MB file`);
      for (const query of t.queries) {
        const q = await call(`${server.url}/v1/kbs/default/query`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query, mode: 'lexical', only_context: true }),
        });
        assert.equal(q.status, 200, JSON.stringify(q.body));
        // The top passage is the marker's, from this file.
        const top = (q.body as { citations: { document_name: string; text: string }[] }).citations[0];
        const word = query.split(' ')[0]!.slice(0, 4);
        assert.ok(top?.document_name === t.name && top.text.includes(word), `${query}: ${JSON.stringify(q.body).slice(0, 500)}`);
      }
    });
  }
});
