/**
 * The real worker module through a real piscina pool (worker threads under `--import tsx`):
 * proves the tasks load in a thread, pdfjs' fake worker and mammoth work there, failures come
 * back as values with the right `permanent` flag, and an aborted task fails fast.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Piscina } from 'piscina';
import type { ChunkDraft, ParsedDocument, ParseLimits } from '../../src/domain/types.js';
import { hashEmbedOne } from '../../src/embedding/hash-embedder.js';
import { readBlocks, readChunks, readParsedDocument } from '../../src/services/pipeline/stage-lines.js';
import type { StageResult } from '../../src/workers/stage-result.js';
import { MARKDOWN_NESTED, makeCorruptPdf, makeDocx, makePdf, makeZipBombDocx, utf8 } from '../support/fixtures.js';

const LIMITS: ParseLimits = { maxUnzippedBytes: 50 * 1024 * 1024, maxZipRatio: 100, maxPdfPages: 100, maxTextChars: 5_000_000, maxDocxXmlBytes: 50 * 1024 * 1024 };
const DIM = 64;

let pool: Piscina;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ragd-ingest-tasks-'));
  pool = new Piscina({
    filename: new URL('../../src/workers/ingest-tasks.ts', import.meta.url).href,
    minThreads: 1,
    maxThreads: 2,
  });
});

after(async () => {
  await pool.destroy();
  await rm(dir, { recursive: true, force: true });
});

function ok<T>(r: StageResult<T>): T {
  if (!r.ok) assert.fail(`task failed: ${JSON.stringify(r.error)}`);
  return r.value;
}

async function runPipeline(name: string, bytes: Uint8Array, type: string, title?: string) {
  const sourcePath = join(dir, name);
  await writeFile(sourcePath, bytes);
  const parsedPath = join(dir, 'out', name, 'parsed.json');
  const chunksPath = join(dir, 'out', name, 'chunks.json');
  const vectorsPath = join(dir, 'out', name, 'vectors.f32');

  const parsed = ok(
    (await pool.run({ sourcePath, type, outPath: parsedPath, limits: LIMITS }, { name: 'parse' })) as StageResult<{
      blocks: number;
      pages: number | null;
      chars: number;
    }>,
  );
  const doc: ParsedDocument = readParsedDocument(parsedPath);
  assert.deepEqual(doc.blocks, [...readBlocks(parsedPath)]);
  assert.equal(parsed.blocks, doc.blocks.length);
  assert.equal(parsed.chars, doc.blocks.reduce((n, b) => n + b.text.length, 0));

  const chunked = ok(
    (await pool.run({ parsedPath, outPath: chunksPath, options: { chunkTokens: 40, overlapTokens: 8 } }, { name: 'chunk' })) as StageResult<{
      chunks: number;
      tokens: number;
    }>,
  );
  const chunks: ChunkDraft[] = [...readChunks(chunksPath)];
  assert.equal(chunked.chunks, chunks.length);
  assert.equal(chunked.tokens, chunks.reduce((n, c) => n + c.tokenCount, 0));

  const embedded = ok(
    (await pool.run({ chunksPath, outPath: vectorsPath, dim: DIM, ...(title ? { title } : {}) }, { name: 'embedHash' })) as StageResult<{
      count: number;
      dim: number;
    }>,
  );
  assert.deepEqual(embedded, { count: chunks.length, dim: DIM });
  const raw = await readFile(vectorsPath);
  assert.equal(raw.length, chunks.length * DIM * 4);
  const vectors = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));

  // Atomic writes leave no temp files behind.
  const leftovers = (await readdir(join(dir, 'out', name))).filter((f) => f.includes('.tmp-'));
  assert.deepEqual(leftovers, []);
  return { parsed, doc, chunks, vectors };
}

describe('ingest tasks in a piscina pool', () => {
  it('parses, chunks and embeds Markdown end to end', async () => {
    const { doc, chunks, vectors } = await runPipeline('guide.md', utf8(MARKDOWN_NESTED), 'markdown', 'Guide');
    assert.equal(doc.title, 'Guide');
    assert.ok(chunks.some((c) => c.headingPath.join(' > ') === 'Guide > Setup > Linux'));
    for (let i = 0; i < chunks.length; i++) {
      const row = vectors.subarray(i * DIM, (i + 1) * DIM);
      const n = Math.sqrt(row.reduce((s, x) => s + x * x, 0));
      assert.ok(Math.abs(n - 1) < 1e-4, `row ${i} norm ${n}`);
    }
  });

  it('parses a PDF in a worker thread (pdfjs fake worker) with page numbers', async () => {
    const pdf = await makePdf([['Worker thread page one.'], ['Worker thread page two.']]);
    const { parsed, doc, chunks } = await runPipeline('doc.pdf', pdf, 'pdf');
    assert.equal(parsed.pages, 2);
    assert.equal(doc.blocks.find((b) => b.text.includes('page two'))?.page, 2);
    assert.equal(chunks[0]!.page, 1);
  });

  it('parses a DOCX in a worker thread', async () => {
    const docx = makeDocx([{ style: 'Heading1', text: 'Chapter' }, { text: 'Body of the chapter.' }]);
    const { doc } = await runPipeline('doc.docx', docx, 'docx');
    assert.deepEqual(doc.blocks.at(-1)!.headingPath, ['Chapter']);
  });

  it('returns permanent failures as values (corrupt PDF, zip bomb)', async () => {
    const cases: [string, Uint8Array, string, string][] = [
      ['bad.pdf', makeCorruptPdf(), 'pdf', 'corrupt_pdf'],
      ['bomb.docx', makeZipBombDocx(), 'docx', 'zip_bomb'],
    ];
    for (const [name, bytes, type, code] of cases) {
      const sourcePath = join(dir, name);
      await writeFile(sourcePath, bytes);
      const outPath = join(dir, 'out', name, 'parsed.json');
      const r = (await pool.run({ sourcePath, type, outPath, limits: LIMITS }, { name: 'parse' })) as StageResult<unknown>;
      assert.equal(r.ok, false);
      assert.ok(!r.ok);
      assert.equal(r.error.permanent, true);
      assert.equal(r.error.code, code);
      await assert.rejects(readFile(outPath), { code: 'ENOENT' }, 'no output on failure');
    }
  });

  it('streams a .jsonl file as JSON Lines, and reads one named so that is one JSON value whole', async () => {
    const run = async (name: string, text: string, limits = LIMITS) => {
      const sourcePath = join(dir, name);
      await writeFile(sourcePath, text);
      const outPath = join(dir, 'out', name, 'parsed.json');
      return { r: (await pool.run({ sourcePath, type: 'json', name, outPath, limits }, { name: 'parse' })) as StageResult<unknown>, outPath };
    };
    const lines = await run('events.ndjson', '{"msg": "第一条"}\n{"msg": "second"}\n');
    ok(lines.r);
    assert.deepEqual([...readBlocks(lines.outPath)].map((b) => b.text), ['[0].msg: 第一条\n[1].msg: second']);
    const pretty = await run('pretty.jsonl', '{\n  "title": "漂亮的 JSON",\n  "n": 2\n}\n');
    ok(pretty.r);
    assert.deepEqual([...readBlocks(pretty.outPath)].map((b) => b.text), ['title: 漂亮的 JSON\nn: 2']);
    // One JSON value too big to read whole fails, saying why, without being read.
    const big = await run('huge.jsonl', '{\n"a": 1}\n', { ...LIMITS, maxTextChars: 2 });
    assert.ok(!big.r.ok);
    assert.equal(big.r.error.permanent, true);
    assert.match(big.r.error.message, /line 1.*too large to be read as one JSON value/);
  });

  it('returns unexpected errors (missing file) as retryable failures', async () => {
    const r = (await pool.run(
      { sourcePath: join(dir, 'nope.txt'), type: 'text', outPath: join(dir, 'x.json'), limits: LIMITS },
      { name: 'parse' },
    )) as StageResult<unknown>;
    assert.ok(!r.ok);
    assert.equal(r.error.permanent, false);
    assert.equal(r.error.code, 'ENOENT');
  });

  it('embedQuery returns the same vector as the in-process embedder', async () => {
    const v = (await pool.run({ text: 'solar panels', dim: DIM }, { name: 'embedQuery' })) as Float32Array;
    assert.ok(v instanceof Float32Array);
    assert.deepEqual(v, hashEmbedOne('solar panels', DIM));
  });

  it('runs at the lowest CPU priority (Linux: nice 19 per worker thread), the event loop untouched', async (t) => {
    if (process.platform !== 'linux') return t.skip('thread nice values are read from /proc (Linux)');
    await pool.run({ text: 'warm the thread', dim: DIM }, { name: 'embedQuery' });
    const niceOf = async (task: string) => {
      const stat = await readFile(`/proc/self/task/${task}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    };
    const tasks = await readdir('/proc/self/task');
    const nices = await Promise.all(tasks.map(niceOf));
    assert.equal(await niceOf(String(process.pid)), 0, 'the main thread keeps its priority');
    assert.ok(nices.includes(19), `a worker thread at nice 19 (saw ${nices.join(',')})`);
  });

  it('an aborted task rejects fast, and the pool keeps working', async () => {
    // ~20 MB of chunk text: several seconds of hashing.
    const text = 'Solar panels feed an inverter that charges the battery bank at night. '.repeat(1400);
    const chunks: ChunkDraft[] = Array.from({ length: 200 }, (_, i) => ({ ordinal: i, text, tokenCount: 1, headingPath: [], page: null }));
    const chunksPath = join(dir, 'big-chunks.json');
    await writeFile(chunksPath, JSON.stringify(chunks));
    const outPath = join(dir, 'big.f32');

    const ac = new AbortController();
    const task = pool.run({ chunksPath, outPath, dim: 256 }, { name: 'embedHash', signal: ac.signal });
    await new Promise((r) => setTimeout(r, 300));
    const abortedAt = Date.now();
    ac.abort();
    await assert.rejects(task, (err: Error) => err.name === 'AbortError');
    assert.ok(Date.now() - abortedAt < 1000, `abort took ${Date.now() - abortedAt} ms`);
    await assert.rejects(readFile(outPath), { code: 'ENOENT' }, 'an aborted task writes nothing');

    const v = (await pool.run({ text: 'still alive', dim: 8 }, { name: 'embedQuery' })) as Float32Array;
    assert.equal(v.length, 8);
  });
});
