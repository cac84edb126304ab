/**
 * Issue 16 item 3: hostile files must not exhaust or monopolise the ingest workers, and must not
 * fail innocent documents. Workers have a memory limit and running out is permanent (not retried);
 * a task's deadline starts when it starts running, not when it is queued; DOCX XML that would
 * balloon mammoth is refused before inflation; nested HTML parses in linear time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ParseLimits } from '../../src/domain/types.js';
import { isPermanent } from '../../src/domain/errors.js';
import { parseHtml } from '../../src/parsing/html.js';
import { checkDeclaredSizes } from '../../src/parsing/zip-guard.js';
import { IngestPool } from '../../src/workers/ingest-pool.js';

const LIMITS: ParseLimits = { maxUnzippedBytes: 256 * 1024 * 1024, maxZipRatio: 100, maxPdfPages: 100, maxTextChars: 50_000_000, maxDocxXmlBytes: 64 * 1024 * 1024 };
const STANDIN = new URL('../support/standin-ingest-tasks.ts', import.meta.url).href;

describe('ingest workers under hostile files', () => {
  it('a task that runs out of memory fails permanently, and the pool keeps working', async () => {
    const pool = new IngestPool({ threads: 1, taskTimeoutMs: 60_000, maxMemoryMb: 48, module: STANDIN });
    try {
      await assert.rejects(pool.run('chunk', {}), (err: Error & { code?: string }) => {
        assert.ok(isPermanent(err), `out of memory must be permanent: ${err.message}`);
        assert.equal(err.code, 'out_of_memory');
        return true;
      });
      assert.ok((await pool.run<number>('parse', { ms: 1 })) >= 0, 'a fresh thread serves the next task');
    } finally {
      await pool.close();
    }
  });

  it('the deadline starts when a task runs: a task queued behind a slow one still gets its whole budget', async () => {
    const pool = new IngestPool({ threads: 1, taskTimeoutMs: 1500, module: STANDIN });
    try {
      await pool.pool.run({ ms: 1 }, { name: 'parse' }); // the thread is up (its start-up is not timed here)
      const slow = pool.run<number>('parse', { ms: 1000 });
      const queued = pool.run<number>('parse', { ms: 800 });
      assert.ok((await slow) >= 0);
      assert.ok((await queued) >= 0, 'the queued task ran to its end');
    } finally {
      await pool.close();
    }
  });
});

describe('DOCX inflation guard', () => {
  it('refuses a DOCX whose XML parts inflate past the XML limit, ratio and total notwithstanding', () => {
    // 50 MB inflating 4:1 to 209 MB: within the 256 MB total and the 100:1 ratio, but mammoth
    // would build a tree of several GB from it.
    const entries = [
      { name: '[Content_Types].xml', method: 8, flags: 0, compressedSize: 400, uncompressedSize: 1500, localHeaderOffset: 0 },
      { name: 'word/document.xml', method: 8, flags: 0, compressedSize: 50_000_000, uncompressedSize: 209_000_000, localHeaderOffset: 500 },
    ];
    assert.throws(() => checkDeclaredSizes(entries, LIMITS), (err: Error & { code?: string }) => {
      assert.ok(isPermanent(err));
      assert.match(err.message, /XML/);
      return true;
    });
    const images = [{ name: 'word/media/big.png', method: 0, flags: 0, compressedSize: 200_000_000, uncompressedSize: 200_000_000, localHeaderOffset: 0 }];
    assert.doesNotThrow(() => checkDeclaredSizes(images, LIMITS), 'media is not parsed, so it counts only toward the total');
  });
});

describe('nested HTML', () => {
  it('11 MB of nested <div>s parses well inside the task limit, text kept', () => {
    const depth = 1_000_000;
    const html = `<html><body>${'<div>'.repeat(depth)}deep text 深层文本${'</div>'.repeat(depth)}<p>after</p></body></html>`;
    assert.ok(html.length > 11_000_000);
    const started = Date.now();
    const doc = parseHtml(html, LIMITS);
    const ms = Date.now() - started;
    // An anti-hang bound: quadratic parsing took past 120 s here.
    assert.ok(ms < 30_000, `parsed in ${ms} ms`);
    const text = doc.blocks.map((b) => b.text).join('\n');
    assert.match(text, /deep text 深层文本/);
    assert.match(text, /after/);
  });
});
